"""Notifications' answers to what lower apps announce; connected in ``NotificationsConfig.ready``."""

from django_q.tasks import async_task


def receipt_owed_enqueue(sender, *, payment_id: int, **kwargs) -> None:
    """``payments.signals.receipt_owed``: the payment's transaction committed, so the receipt task creates its email.

    When the enqueue fails (the broker is down), the email sweep creates the receipt from the owed row.
    """
    async_task("notifications.tasks.receipt_send", payment_id)


def tracking_event_record(sender, *, event, esp_name: str, **kwargs) -> None:
    """``anymail.signals.tracking``: one event of the mail provider's webhook (``notifications.feedback``)."""
    from notifications.feedback import delivery_feedback_record

    delivery_feedback_record(event=event, provider=esp_name)
