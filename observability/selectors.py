"""Observability: reads. Every business count is over an indexed time window, never the whole table."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import Count, Min, Q, Sum
from django.db.models.functions import TruncDay, TruncHour, TruncMinute
from django_q.brokers import get_broker
from django_q.models import Failure

from echopilot.models import Heartbeat
from echopilot.money import CENT
from fraud.models import FraudCheck, FraudReview
from notifications.models import Email, Status
from observability.models import Alert, MaintenanceWindow, Silence, Snapshot
from observability.rules import Kpi, rate
from payments.models import Payment, WebhookEvent, WebhookRejection

WEEKLY_AUDIT_KEY = "observability:weekly_audit"  # the latest weekly audit's result, in the cache for 8 days
FINISHED = [Payment.Status.SUCCEEDED, Payment.Status.REFUNDED, Payment.Status.FAILED]


def count_by(queryset, field: str) -> dict:
    """The queryset's rows counted per value of ``field``: ``{value: count}`` (values without rows are absent)."""
    return dict(queryset.values_list(field).annotate(n=Count("id")).order_by())


def queue_depth() -> int | None:
    """Tasks waiting in the queue, or None when the broker (Redis) is unreachable."""
    try:
        return get_broker().queue_size()
    except Exception:  # the broker may be down; callers say so instead of failing
        return None


def snapshot_latest() -> Snapshot | None:
    return Snapshot.objects.order_by("-taken_at", "-id").first()


def audit_week_latest() -> dict | None:
    """The latest weekly audit's result (``housekeeping.audit_week_run``), or None."""
    return cache.get(WEEKLY_AUDIT_KEY)


def snapshot_list(*, since: datetime | None, limit: int) -> list[Snapshot]:
    rows = Snapshot.objects.order_by("-taken_at", "-id")
    if since is not None:
        rows = rows.filter(taken_at__gte=since)
    return list(rows[:limit])


def alert_list(*, now: datetime, recent_hours: int = 24 * 7) -> list[Alert]:
    """Firing alerts, then pending ones, then those resolved in the past week."""
    return list(
        Alert.objects.filter(
            Q(status__in=[Alert.Status.FIRING, Alert.Status.PENDING])
            | Q(resolved_at__gte=now - timedelta(hours=recent_hours))
        ).order_by("status", "-last_evaluated_at")
    )


def firing_alerts() -> list[Alert]:
    return list(Alert.objects.filter(status=Alert.Status.FIRING).order_by("rule", "fingerprint"))


def pending_alerts() -> list[Alert]:
    return list(Alert.objects.filter(status=Alert.Status.PENDING).order_by("rule", "fingerprint"))


def open_reviews() -> tuple[int, datetime | None]:
    """How many reviews are open and when the oldest was opened: one query on the queue index (state, opened_at)."""
    row = FraudReview.objects.filter(state=FraudReview.State.OPEN).aggregate(count=Count("id"), oldest=Min("opened_at"))
    return row["count"], row["oldest"]


@dataclass(frozen=True)
class Silencers:
    """The one-off silences running at ``now`` and every maintenance window (whether one is open depends on
    ``now`` in its own time zone, so they are all loaded: a handful of rows)."""

    silences: list[Silence]
    windows: list[MaintenanceWindow]
    now: datetime

    def of(self, rule: str, fingerprint: str = "") -> str:
        """What silences this alert now, for people ("" when nothing does); a one-off silence before a window."""
        for silence in self.silences:
            if silence.covers(rule, fingerprint):
                return silence.text
        for window in self.windows:
            if window.covers(rule, self.now):
                return window.text
        return ""


def silencers(*, now: datetime) -> Silencers:
    return Silencers(
        silences=list(Silence.objects.filter(until__gt=now).select_related("author").order_by("-until", "id")),
        windows=list(MaintenanceWindow.objects.order_by("id")),
        now=now,
    )


# --- Numbers for the alert rules --------------------------------------------------------


def webhook_failure_count(*, now: datetime) -> int:
    """Verified events received in the past 5 minutes whose processing failed (not invalid, not refused)."""
    return WebhookEvent.objects.filter(
        received_at__gte=now - timedelta(minutes=5), status=WebhookEvent.Status.FAILED
    ).count()


def webhook_refusal_count(*, now: datetime) -> int:
    """Deliveries refused in the minutes that began within the past 5 minutes (counted per minute)."""
    refused = WebhookRejection.objects.filter(minute__gt=now - timedelta(minutes=5), minute__lte=now)
    return refused.aggregate(n=Sum("count"))["n"] or 0


def payment_outcomes(*, since: datetime) -> tuple[int, int]:
    """(failed, finished) payments created since ``since``."""
    counts = Payment.objects.filter(created_at__gte=since, status__in=FINISHED).aggregate(
        failed=Count("id", filter=Q(status=Payment.Status.FAILED)), finished=Count("id")
    )
    return counts["failed"], counts["finished"]


def revenue_windows(*, now: datetime) -> dict[str, tuple[Decimal, Decimal]]:
    """Succeeded revenue per currency: (past 24 h, the 24 h before)."""
    day = now - timedelta(hours=24)
    rows = (
        Payment.objects.filter(status=Payment.Status.SUCCEEDED, created_at__gte=now - timedelta(hours=48))
        .values("currency")
        .annotate(
            current=Sum("amount", filter=Q(created_at__gte=day)),
            previous=Sum("amount", filter=Q(created_at__lt=day)),
        )
    )
    return {row["currency"]: (row["current"] or Decimal("0"), row["previous"] or Decimal("0")) for row in rows}


# --- Scheduler and governance --------------------------------------------------------------


def scheduler_state(*, now: datetime) -> dict:
    last = Heartbeat.objects.order_by("-created_at").values_list("created_at", flat=True).first()
    return {
        "heartbeat_age_sec": None if last is None else round((now - last).total_seconds(), 1),
        "queued": queue_depth(),
        "failed_24h": Failure.objects.filter(stopped__gte=now - timedelta(hours=24)).count(),
    }


KPI_WINDOW = timedelta(hours=24)


def service_installed_at() -> datetime | None:
    """When this installation began: the time its first migration was applied.

    This is how the KPIs know whether the service has run a full window yet. It
    is kept for the life of the database and is the same on every node, and
    ``make run`` migrates right before it starts serving. The first heartbeat
    would say when the scheduler first ran, but heartbeats are deleted after
    ``HEARTBEAT_RETENTION_HOURS`` (1 hour at the least), so a service could look
    new forever.
    """
    return MigrationRecorder.Migration.objects.aggregate(first=Min("applied"))["first"]


def governance_kpis(*, now: datetime) -> list[Kpi]:
    """The four KPIs over the past 24 hours, in percent.

    Until the service has run a full window every one of them is warming up (see ``rules.Kpi``); scheduler
    uptime is then measured over the minutes since installation instead of a full day, so it reads as the
    uptime so far rather than near 0%.
    """
    since = now - KPI_WINDOW
    installed = service_installed_at()
    warming_up_until = installed + KPI_WINDOW if installed is not None and now < installed + KPI_WINDOW else None
    window_start = max(since, installed) if warming_up_until else since
    window_minutes = max(1, min(1440, int((now - window_start).total_seconds() // 60)))
    failed, finished = payment_outcomes(since=since)
    fraud = FraudCheck.objects.filter(created_at__gte=since).aggregate(
        blocked=Count("id", filter=Q(decision="block")), total=Count("id")
    )
    emails = Email.objects.filter(created_at__gte=since).aggregate(
        sent=Count("id", filter=Q(status=Status.SENT)), failed=Count("id", filter=Q(status=Status.FAILED))
    )
    minutes = (
        Heartbeat.objects.filter(created_at__gte=window_start, created_at__lt=now)
        .annotate(minute=TruncMinute("created_at"))
        .values("minute")
        .distinct()
        .count()
    )
    return [
        Kpi(
            "payment_success_rate",
            rate(finished - failed, finished),
            settings.KPI_PAYMENT_SUCCESS_TARGET,
            warming_up_until=warming_up_until,
        ),
        Kpi(
            "fraud_block_rate",
            rate(fraud["blocked"], fraud["total"]),
            settings.KPI_FRAUD_BLOCK_MAX,
            False,
            warming_up_until=warming_up_until,
        ),
        Kpi(
            "email_delivery_rate",
            rate(emails["sent"], emails["sent"] + emails["failed"]),
            settings.KPI_EMAIL_DELIVERY_TARGET,
            warming_up_until=warming_up_until,
        ),
        Kpi(
            "scheduler_uptime",
            rate(min(minutes, window_minutes), window_minutes),
            settings.KPI_SCHEDULER_UPTIME_TARGET,
            warming_up_until=warming_up_until,
        ),
    ]


# --- Dashboard and report ---------------------------------------------------------------------


def _buckets(rows, key: str, trunc: str) -> dict[datetime, dict[str, float]]:
    table: dict[datetime, dict[str, float]] = {}
    for row in rows:
        table.setdefault(row[trunc], {})[row[key]] = row["value"]
    return table


def _counts_by(queryset, field: str, *, since: datetime, until: datetime, per_day: bool):
    """Rows created in [since, until) counted per hour (or day) and per value of ``field``."""
    trunc = TruncDay("created_at") if per_day else TruncHour("created_at")
    rows = (
        queryset.filter(created_at__gte=since, created_at__lt=until)
        .annotate(bucket=trunc)
        .values("bucket", field)
        .annotate(value=Count("id"))
    )
    return _buckets(rows, field, "bucket")


def payments_by_status(*, since: datetime, until: datetime, per_day: bool) -> dict[datetime, dict[str, float]]:
    return _counts_by(Payment.objects, "status", since=since, until=until, per_day=per_day)


def revenue_by_day(*, since: datetime, until: datetime) -> dict[datetime, dict[str, float]]:
    rows = (
        Payment.objects.filter(status=Payment.Status.SUCCEEDED, created_at__gte=since, created_at__lt=until)
        .annotate(bucket=TruncDay("created_at"))
        .values("bucket", "currency")
        .annotate(value=Sum("amount"))
    )
    return _buckets(rows, "currency", "bucket")


def fraud_by_decision(*, since: datetime, until: datetime, per_day: bool) -> dict[datetime, dict[str, float]]:
    return _counts_by(FraudCheck.objects, "decision", since=since, until=until, per_day=per_day)


def emails_by_status(*, since: datetime, until: datetime, per_day: bool) -> dict[datetime, dict[str, float]]:
    return _counts_by(Email.objects, "status", since=since, until=until, per_day=per_day)


def day_summary(*, since: datetime, until: datetime) -> dict:
    """Everything the daily report tells about one day."""
    payments = Payment.objects.filter(created_at__gte=since, created_at__lt=until)
    by_status = count_by(payments, "status")
    revenue = {
        currency: total.quantize(CENT)
        for currency, total in payments.filter(status=Payment.Status.SUCCEEDED)
        .values_list("currency")
        .annotate(total=Sum("amount"))
        .order_by("currency")
    }
    failed = by_status.get(Payment.Status.FAILED, 0)
    finished = sum(by_status.get(status, 0) for status in FINISHED)
    fraud = count_by(FraudCheck.objects.filter(created_at__gte=since, created_at__lt=until), "decision")
    emails = count_by(Email.objects.filter(created_at__gte=since, created_at__lt=until), "status")
    webhooks = count_by(WebhookEvent.objects.filter(received_at__gte=since, received_at__lt=until), "status")
    refused = WebhookRejection.objects.filter(minute__gte=since, minute__lt=until).aggregate(n=Sum("count"))["n"]
    if refused:
        webhooks[WebhookEvent.Status.REJECTED] = webhooks.get(WebhookEvent.Status.REJECTED, 0) + refused
    alerts = list(
        Alert.objects.filter(Q(status=Alert.Status.FIRING) | Q(started_at__lt=until, resolved_at__gte=since))
        .order_by("rule", "fingerprint")
        .values("rule", "fingerprint", "status", "severity", "summary", "started_at", "resolved_at")
    )
    return {
        "payments": by_status,
        "payments_total": sum(by_status.values()),
        "revenue": revenue,
        "error_rate": rate(failed, finished),
        "fraud": fraud,
        "open_reviews": FraudReview.objects.filter(state=FraudReview.State.OPEN).count(),
        "emails": emails,
        "webhooks": webhooks,
        "alerts": alerts,
    }
