from django.conf import settings
from django.db import models
from django.utils import timezone

from echopilot.timefmt import moment_format
from observability.rules import alert_value_text


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
    """The state of one production alert (a rule and a fingerprint), Alertmanager-style.

    ``firing`` from the evaluation that first sees the rule firing (``started_at``)
    until one sees it clear: then ``resolved`` (``resolved_at``). Firing again later
    reuses the row with a new ``started_at``. ``last_notified_at`` is the last
    message sent about it; ``observed`` and ``threshold`` come from the latest evaluation.
    """

    class Status(models.TextChoices):
        FIRING = "firing"
        RESOLVED = "resolved"

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
    started_at = models.DateTimeField()
    last_evaluated_at = models.DateTimeField()
    last_notified_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

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


class Silence(models.Model):
    """Suppresses the notifications of one rule until a time; alert state is still updated."""

    rule = models.CharField(max_length=50, help_text="e.g. webhook_failures, payment_error_rate, revenue_dip")
    until = models.DateTimeField()
    reason = models.CharField(max_length=300)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-until"]
        indexes = [models.Index(fields=["rule", "until"], name="silence_rule_until")]

    def __str__(self):
        return f"{self.rule} until {self.until:%Y-%m-%d %H:%M}"


class EvaluationLock(models.Model):
    """A single row: the lease of the alert evaluation that is running (``locked_until`` in the future)."""

    locked_until = models.DateTimeField(null=True)
    token = models.CharField(max_length=32, blank=True)

    def __str__(self):
        return f"evaluation lease until {self.locked_until}"
