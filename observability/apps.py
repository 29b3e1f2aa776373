from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models.signals import post_migrate


def alert_rule_timing_check() -> None:
    """ALERT_RULE_TIMING names only rules that exist (the settings read its form; the rules are ours)."""
    from observability.rules import RULE_NAMES

    unknown = sorted(set(settings.ALERT_RULE_TIMING) - set(RULE_NAMES))
    if unknown:
        raise ImproperlyConfigured(
            f"ALERT_RULE_TIMING: no alert rule is named {', '.join(unknown)}; the rules are {', '.join(RULE_NAMES)}"
        )


class ObservabilityConfig(AppConfig):
    name = "observability"
    verbose_name = "Observability"

    def ready(self):
        from echopilot.signals import service_started, task_queue_stall_changed
        from notifications.signals import telegram_button
        from observability.alerts import alert_button_receive
        from observability.roles import roles_sync_after_migrate
        from observability.snapshots import snapshot_take_at_start_receive
        from observability.stall import task_queue_alert_receive
        from observability.system import cpu_sampler_prime

        alert_rule_timing_check()

        # At process start, so the first non-blocking CPU reading of any process covers a real interval.
        cpu_sampler_prime()

        # The two ready groups of the admin (observability/roles.py), after every migrate.
        post_migrate.connect(roles_sync_after_migrate, sender=self, dispatch_uid="observability.roles_sync")
        # The watchdog of `serve` (the platform) announces a stalled or recovered task queue; the alert is ours.
        task_queue_stall_changed.connect(task_queue_alert_receive, dispatch_uid="observability.task_queue_alert")
        # `serve` (the platform) has started its web nodes: the first snapshot is ours to take.
        service_started.connect(snapshot_take_at_start_receive, dispatch_uid="observability.snapshot_at_start")
        # A press of an alert message's button (the webhook is notifications'): acknowledge or silence the alert.
        telegram_button.connect(alert_button_receive, dispatch_uid="observability.alert_button")
