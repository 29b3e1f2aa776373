from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from echopilot.timefmt import moment_format
from observability.rules import alert_value_text, time_zone_known, window_active


class Snapshot(models.Model):
    """One observability snapshot: system, API, scheduler and health, as taken (``data`` keeps the original contract's names)."""

    taken_at = models.DateTimeField(default=timezone.now, db_index=True)
    data = models.JSONField()

    class Meta:
        ordering = ["-taken_at", "-id"]
        permissions = [("view_dashboard", "Can view the operations dashboard")]

    def __str__(self):
        return f"snapshot at {moment_format(self.taken_at)}"


class Alert(models.Model):
    """The state of one production alert (a rule and a fingerprint), Prometheus/Alertmanager-style.

    States: ``pending`` from the first evaluation that sees the rule's condition
    (``pending_since``) until it has held ``ALERT_FOR_MINUTES``: then ``firing``
    (``started_at``); a pending alert whose condition clears first goes
    ``inactive`` (it never fired, nobody is told). A firing alert whose condition
    clears (``cleared_at``) stays firing ``ALERT_KEEP_FIRING_FOR_MINUTES``, then
    ``resolved`` (``resolved_at``); if the condition comes back meanwhile it never
    resolved. Firing again later reuses the row with a new ``started_at``.
    ``acknowledged_at``/``acknowledged_by`` hold for the firing episode (no
    reminders until it resolves). ``silenced_by`` names the silence or
    maintenance window that kept the last evaluation quiet. ``last_notified_at``
    is the last message sent about it. Every change of state is an
    ``AlertTransition`` row and a line in ``production_alerts.ndjson``.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        FIRING = "firing"
        RESOLVED = "resolved"
        INACTIVE = "inactive", "Inactive (cleared before firing)"

    class Severity(models.TextChoices):
        WARNING = "warning"
        CRITICAL = "critical"

    rule = models.CharField(max_length=50)
    fingerprint = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    summary = models.CharField(max_length=300)
    observed = models.FloatField(null=True)
    threshold = models.FloatField(null=True)
    pending_since = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)
    last_evaluated_at = models.DateTimeField()
    last_notified_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=150, blank=True)
    silenced_by = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-last_evaluated_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["rule", "fingerprint"], name="alert_rule_fingerprint_unique")]
        indexes = [models.Index(fields=["status", "resolved_at"], name="alert_status_time")]

    def __str__(self):
        return f"{self.name} {self.status}"

    @property
    def name(self) -> str:
        """The rule, and the fingerprint when there is one: ``revenue_dip/usd``."""
        return f"{self.rule}/{self.fingerprint}" if self.fingerprint else self.rule

    @property
    def observed_text(self) -> str:
        """The observed value for people: "12.5%", "-42.1%", "4" (``observability.rules.alert_value_text``)."""
        return alert_value_text(self.rule, self.observed)

    @property
    def threshold_text(self) -> str:
        """The threshold for people, like ``observed_text``."""
        return alert_value_text(self.rule, self.threshold)


class AlertTransition(models.Model):
    """One change of an alert's state: pending, firing, resolved, inactive, acknowledged, silenced, unsilenced.

    A machine record (read-only in the admin); the same change is a line in ``production_alerts.ndjson``.
    """

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="transitions")
    from_state = models.CharField(max_length=15, blank=True)
    to_state = models.CharField(max_length=15)
    at = models.DateTimeField()
    by = models.CharField(max_length=150, blank=True, help_text="who: user:…, telegram:…; empty for the evaluation")
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["alert", "at"], name="alert_transition_time")]

    def __str__(self):
        return f"{self.from_state or '-'} → {self.to_state}"


class Silence(models.Model):
    """Suppresses the notifications of one rule (or one alert of it) until a time; alert state is still updated."""

    rule = models.CharField(max_length=50, help_text="e.g. webhook_failures, payment_error_rate, revenue_dip")
    fingerprint = models.CharField(
        max_length=100, blank=True, help_text="only this alert of the rule (e.g. usd for revenue_dip); empty: all"
    )
    until = models.DateTimeField()
    reason = models.CharField(max_length=300)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, editable=False
    )
    by = models.CharField(max_length=150, blank=True, editable=False, help_text="who set it: user:…, telegram:…")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-until"]
        indexes = [models.Index(fields=["rule", "until"], name="silence_rule_until")]

    def __str__(self):
        name = f"{self.rule}/{self.fingerprint}" if self.fingerprint else self.rule
        return f"silence of {name} until {moment_format(self.until)}"

    def covers(self, rule: str, fingerprint: str) -> bool:
        return self.rule == rule and self.fingerprint in ("", fingerprint)

    @property
    def text(self) -> str:
        """What silenced an alert, for people: "silence until 2026-03-10 13:00 UTC by user:ops (provider incident)"."""
        by = self.by or (f"user:{self.author.get_username()}" if self.author_id else "")
        return f"silence until {moment_format(self.until)}{f' by {by}' if by else ''} ({self.reason})"[:300]


WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def _time_zone_valid(value: str) -> None:
    if not time_zone_known(value):
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC).")


def _weekdays_valid(value) -> None:
    if not isinstance(value, list) or not value or any(type(day) is not int or not 0 <= day <= 6 for day in value):
        raise ValidationError("Pick at least one weekday.")


class MaintenanceWindow(models.Model):
    """A recurring silence: on the chosen weekdays from ``start`` to ``end``, wall-clock time in ``time_zone``.

    ``end`` at or before ``start`` ends the next day (22:00–02:00). Across a daylight-saving change the window
    keeps its wall-clock times (03:00–05:00 stays 03:00–05:00 local). Empty ``rule``: every rule.
    """

    rule = models.CharField(max_length=50, blank=True, help_text="e.g. revenue_dip; empty: every rule")
    weekdays = models.JSONField(validators=[_weekdays_valid], help_text="0 Monday … 6 Sunday")
    start = models.TimeField(help_text="wall-clock time in the window's time zone")
    end = models.TimeField(help_text="at or before the start: the next day")
    time_zone = models.CharField(max_length=64, default="UTC", validators=[_time_zone_valid])
    comment = models.CharField(max_length=300)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["rule", "start", "id"]

    def __str__(self):
        days = ",".join(WEEKDAYS[day] for day in sorted(self.weekdays or []) if 0 <= day <= 6)
        return f"{self.rule or 'all rules'} {days} {self.start:%H:%M}–{self.end:%H:%M} {self.time_zone}"

    def covers(self, rule: str, now) -> bool:
        return self.rule in ("", rule) and window_active(
            weekdays=self.weekdays, start=self.start, end=self.end, time_zone=self.time_zone, now=now
        )

    @property
    def text(self) -> str:
        """What silenced an alert, for people: "maintenance window all rules Sun 02:00–04:00 Europe/Berlin (backups)"."""
        return f"maintenance window {self} ({self.comment})"[:300]


class EvaluationLock(models.Model):
    """A single row: the lease of the alert evaluation that is running (``locked_until`` in the future)."""

    locked_until = models.DateTimeField(null=True)
    token = models.CharField(max_length=32, blank=True)

    def __str__(self):
        return f"evaluation lease until {self.locked_until}"
