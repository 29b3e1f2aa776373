from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self):
        from anymail.signals import tracking

        from notifications.receivers import receipt_owed_enqueue, tracking_event_record
        from payments.signals import receipt_owed

        # Receipts are ours: payments announces that one is owed, and never names this app.
        receipt_owed.connect(receipt_owed_enqueue, dispatch_uid="notifications.receipt_owed_enqueue")
        # Bounces and complaints from the mail provider's webhook, normalised by django-anymail.
        tracking.connect(tracking_event_record, dispatch_uid="notifications.tracking_event_record")
