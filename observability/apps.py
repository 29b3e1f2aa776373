from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ObservabilityConfig(AppConfig):
    name = "observability"
    verbose_name = "Observability"

    def ready(self):
        from echopilot.signals import task_queue_stall_changed
        from observability.roles import roles_sync_after_migrate
        from observability.stall import task_queue_alert_receive

        # The two ready groups of the admin (observability/roles.py), after every migrate.
        post_migrate.connect(roles_sync_after_migrate, sender=self, dispatch_uid="observability.roles_sync")
        # The watchdog of `serve` (the platform) announces a stalled or recovered task queue; the alert is ours.
        task_queue_stall_changed.connect(task_queue_alert_receive, dispatch_uid="observability.task_queue_alert")
