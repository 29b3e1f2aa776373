"""Housekeeping: the weekly audit of rows against their NDJSON lines, self-heal and retention."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import models
from django.utils import timezone
from django_q.models import Failure, Success

from echopilot.audit import audit_event, utc_iso
from echopilot.counters import counters_prune
from echopilot.models import Heartbeat
from fraud.models import FraudCheck
from notifications.models import DeliveryFeedback, Email, TelegramUpdate
from notifications.services import email_sweep, telegram_sweep
from observability import logfiles
from observability.models import Alert, Snapshot
from observability.selectors import WEEKLY_AUDIT_KEY
from payments.models import WebhookEvent, WebhookRejection
from payments.services import webhook_event_reprocess
from portal.models import PortalLink

# --- Weekly audit ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditStream:
    """Rows of one model against the ids its audit stream logs."""

    name: str
    model: type[models.Model]
    id_field: str
    time_field: str
    stream: str
    log_keys: tuple[str, ...]  # event fields holding the row's id
    exclude: dict = field(default_factory=dict)


AUDIT_STREAMS = (
    AuditStream("fraud_checks", FraudCheck, "check_id", "created_at", "fraud_guard", ("check_id",)),
    AuditStream("emails", Email, "public_id", "created_at", "emails", ("id",)),
    AuditStream(
        "webhook_events",
        WebhookEvent,
        "event_id",
        "received_at",
        "payments",
        ("event_id",),
        exclude={"status": WebhookEvent.Status.REJECTED},
    ),
    AuditStream(  # refused deliveries stored one by one before they were counted per minute
        "rejected_webhooks",
        WebhookEvent,
        "pk",
        "received_at",
        "payments",
        ("webhook",),
        exclude={"status__in": [s for s in WebhookEvent.Status.values if s != WebhookEvent.Status.REJECTED]},
    ),
    # One counter row per reason and minute; its first refusal is logged with the row's id.
    AuditStream("webhook_rejections", WebhookRejection, "pk", "minute", "payments", ("rejection",)),
    AuditStream("portal_links", PortalLink, "public_id", "created_at", "portal_links", ("link",)),
)


def _audit_one(spec: AuditStream, *, since: datetime, until: datetime, max_examples: int) -> dict:
    model = spec.model
    rows = model.objects.filter(**{f"{spec.time_field}__gte": since, f"{spec.time_field}__lt": until})
    rows = rows.exclude(**spec.exclude) if spec.exclude else rows
    in_db = {str(value) for value in rows.values_list(spec.id_field, flat=True)}
    logged = set()
    margin = utc_iso(since - timedelta(hours=1))
    for event in logfiles.read_events(spec.stream):
        if str(event.get("ts", "")) < margin:
            continue
        for key in spec.log_keys:
            if event.get(key) not in (None, ""):
                logged.add(str(event[key]))
                break
    missing_in_log = sorted(in_db - logged)
    # Logged ids outside the window's rows may belong to older rows (an email sent today, created last week).
    unknown = logged - in_db
    if unknown:
        known = {
            str(value)
            for chunk in _chunks(sorted(unknown), 500)
            for value in model.objects.filter(**{f"{spec.id_field}__in": chunk}).values_list(spec.id_field, flat=True)
        }
        unknown -= known
    return {
        "rows": len(in_db),
        "missing_in_log": len(missing_in_log),
        "missing_in_db": len(unknown),
        "examples_missing_in_log": missing_in_log[:max_examples],
        "examples_missing_in_db": sorted(unknown)[:max_examples],
    }


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def audit_week_run(*, now: datetime | None = None, max_examples: int = 20) -> dict:
    """For the past week: every row has its NDJSON line and every line its row. Discrepancies warn in health."""
    now = now or timezone.now()
    since = now - timedelta(days=7)
    result = {
        "since": utc_iso(since),
        "until": utc_iso(now),
        "streams": {
            spec.name: _audit_one(spec, since=since, until=now, max_examples=max_examples) for spec in AUDIT_STREAMS
        },
    }
    result["discrepancies"] = sum(s["missing_in_log"] + s["missing_in_db"] for s in result["streams"].values())
    cache.set(WEEKLY_AUDIT_KEY, result, timeout=8 * 86400)
    audit_event("observability", "weekly_audit", **result)
    return result


# --- Self-heal and retention ----------------------------------------------------------------------


def self_heal_run(*, now: datetime | None = None, limit: int = 200) -> dict:
    """Requeue messages stuck in ``sending``; process failed webhook events of the past week again."""
    now = now or timezone.now()
    emails = email_sweep(limit=0)  # limit 0: only the requeue step, nothing is delivered here
    telegram = telegram_sweep(limit=0)
    webhooks: dict[str, int] = {}
    failed = WebhookEvent.objects.filter(
        status=WebhookEvent.Status.FAILED, received_at__gte=now - timedelta(days=7)
    ).order_by("received_at", "pk")
    for webhook in failed[:limit]:
        outcome = webhook_event_reprocess(webhook=webhook)
        webhooks[outcome] = webhooks.get(outcome, 0) + 1
    done = {"emails": dict(emails), "telegram": dict(telegram), "webhooks": webhooks}
    audit_event("observability", "self_heal", **done)
    return done


def _delete_in_batches(queryset, batch: int) -> int:
    deleted = 0
    model = queryset.model
    while ids := list(queryset.values_list("pk", flat=True)[:batch]):
        deleted += model.objects.filter(pk__in=ids).delete()[0]
    return deleted


def retention_apply(*, now: datetime | None = None, batch: int = 1000) -> dict:
    """Delete rows and rotated NDJSON files past RETENTION_DAYS (in batches); gzip rotated files older than a day.

    The rows: snapshots, task results, resolved alerts and alerts that cleared before they fired (with their
    transitions), the per-minute counts of refused webhook deliveries, Telegram's updates (button presses) and the
    mail provider's delivery events. The suppression list is kept: it is the list, not a record of events.

    Heartbeats are the exception: they are kept for HEARTBEAT_RETENTION_HOURS only (this is their only pruning).
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.RETENTION_DAYS)
    heartbeat_cutoff = now - timedelta(hours=settings.HEARTBEAT_RETENTION_HOURS)
    rows = {
        "heartbeats": _delete_in_batches(Heartbeat.objects.filter(created_at__lt=heartbeat_cutoff), batch),
        "snapshots": _delete_in_batches(Snapshot.objects.filter(taken_at__lt=cutoff), batch),
        "task_successes": _delete_in_batches(Success.objects.filter(stopped__lt=cutoff), batch),
        "task_failures": _delete_in_batches(Failure.objects.filter(stopped__lt=cutoff), batch),
        "resolved_alerts": _delete_in_batches(
            Alert.objects.filter(status=Alert.Status.RESOLVED, resolved_at__lt=cutoff), batch
        ),
        "inactive_alerts": _delete_in_batches(
            Alert.objects.filter(status=Alert.Status.INACTIVE, last_evaluated_at__lt=cutoff), batch
        ),
        "webhook_rejections": _delete_in_batches(WebhookRejection.objects.filter(minute__lt=cutoff), batch),
        "telegram_updates": _delete_in_batches(TelegramUpdate.objects.filter(received_at__lt=cutoff), batch),
        "delivery_feedback": _delete_in_batches(DeliveryFeedback.objects.filter(received_at__lt=cutoff), batch),
        "expired_counters": counters_prune(now=now, batch=batch),
    }
    files = logfiles.rotated_housekeep(
        now=now, compress_after_sec=86400, delete_after_sec=settings.RETENTION_DAYS * 86400
    )
    done = {"rows": rows, "files": files}
    audit_event("observability", "retention", cutoff=cutoff, **done)
    return done
