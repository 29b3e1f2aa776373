"""Observability: writes. Snapshots, production alerts, the daily report, the weekly audit, self-heal, retention."""

import os
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import models, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django_q.models import Failure, Success

from echopilot.audit import audit_event, audit_failure_count, utc_iso, write_latest
from echopilot.health import check_cache
from echopilot.models import Heartbeat
from fraud.models import FraudCheck
from notifications.models import Email, Kind
from notifications.rules import normalize_address
from notifications.services import email_send, email_sweep, notify, telegram_sweep
from observability import logfiles, rules, selectors, system
from observability.models import Alert, EvaluationLock, Snapshot
from payments.models import WebhookEvent, WebhookRejection
from payments.services import webhook_event_reprocess
from portal.models import PortalLink

WEEKLY_AUDIT_KEY = "observability:weekly_audit"


# --- Snapshot ----------------------------------------------------------------------------------


def _thresholds() -> rules.Thresholds:
    return rules.Thresholds(
        cpu_percent=settings.OBS_CPU_WARN_PERCENT,
        mem_percent=settings.OBS_MEM_WARN_PERCENT,
        disk_percent=settings.OBS_DISK_WARN_PERCENT,
        heartbeat_max_age=settings.OBS_HEARTBEAT_MAX_AGE,
    )


def snapshot_take(*, blocking_cpu: bool, now: datetime | None = None) -> Snapshot:
    """Measure everything, store a ``Snapshot`` and write it to the audit log.

    ``blocking_cpu`` (tasks, the command): CPU sampled over one real second.
    Otherwise (requests): from the previous sample in the shared cache, or null.
    With the cache unreachable the snapshot is taken without it and warns.
    """
    now = now or timezone.now()
    cache_problem = check_cache()
    if blocking_cpu:
        cpu = system.cpu_percent_blocking()
    else:
        cpu = None if cache_problem else system.cpu_percent_from_samples(now=now)
    api = system.api_probe()
    scheduler = selectors.scheduler_state(now=now)
    firing = selectors.firing_alerts()
    kpis = rules.governance(selectors.governance_kpis(now=now), margin=settings.KPI_AT_RISK_MARGIN)
    audit_failures = audit_failure_count()
    weekly = {} if cache_problem else cache.get(WEEKLY_AUDIT_KEY) or {}
    sys_block = {
        "cpu_percent": cpu,
        "cpu_sampled": cpu is not None,
        "load_avg": [round(value, 2) for value in os.getloadavg()],
        **system.memory(),
        **system.disks(),
    }
    warnings = rules.ops_warnings(
        cpu_percent=cpu,
        mem_percent=sys_block["mem_percent"],
        disk_percent=sys_block["disk_percent"],
        heartbeat_age_sec=scheduler["heartbeat_age_sec"],
        api_healthy=api["healthy"],
        audit_write_failures=audit_failures,
        firing_alerts=[alert.name for alert in firing],
        governance_failing=kpis["failing"],
        audit_discrepancies=weekly.get("discrepancies", 0),
        cache_problem=cache_problem,
        limits=_thresholds(),
    )
    data = {
        "ts": int(now.timestamp()),
        "ts_iso": utc_iso(now),
        "node": settings.NODE_NAME,
        "system": sys_block,
        "process": system.process(),
        "api": api,
        "db": {"latency_sec": system.database_latency()},
        "scheduler": scheduler,
        "audit": {"write_failures": audit_failures, "weekly_discrepancies": weekly.get("discrepancies")},
        "governance": kpis,
        "health": {
            "governance_status": kpis["status"],
            "ops_warnings": warnings,
            "overall": rules.overall(
                warnings=warnings,
                api_healthy=api["healthy"],
                critical_firing=any(alert.severity == Alert.Severity.CRITICAL for alert in firing),
                governance_status=kpis["status"],
            ),
        },
    }
    snapshot = Snapshot.objects.create(taken_at=now, data=data)
    audit_event("observability", "snapshot", **{key: value for key, value in data.items() if key != "ts"})
    write_latest("observability", data)
    return snapshot


# --- Production alerts ---------------------------------------------------------------------------

LOCK_LEASE = timedelta(minutes=4)  # shorter than the 5-minute schedule: a crashed run never blocks the next one


def evaluation_lock_acquire() -> str | None:
    """Take the evaluation lease (a conditional update of one row, safe across processes on both databases)."""
    EvaluationLock.objects.get_or_create(pk=1)
    token = secrets.token_hex(8)
    now = timezone.now()
    taken = (
        EvaluationLock.objects.filter(pk=1)
        .exclude(locked_until__gt=now)
        .update(locked_until=now + LOCK_LEASE, token=token)
    )
    return token if taken else None


def evaluation_lock_release(token: str) -> None:
    EvaluationLock.objects.filter(pk=1, token=token).update(locked_until=None, token="")


def alert_rule_results(*, now: datetime) -> list[rules.RuleResult]:
    failed, finished = selectors.payment_outcomes(since=now - timedelta(hours=1))
    results = [
        rules.webhook_failures(
            failures=selectors.webhook_failure_count(now=now), threshold=settings.ALERT_WEBHOOK_FAILURES
        ),
        rules.webhook_signature_failures(
            refused=selectors.webhook_refusal_count(now=now), threshold=settings.ALERT_WEBHOOK_SIGNATURE_FAILURES
        ),
        rules.payment_error_rate(
            failed=failed,
            finished=finished,
            threshold_percent=settings.ALERT_PAYMENT_ERROR_RATE,
            min_payments=settings.ALERT_MIN_PAYMENTS,
        ),
    ]
    for currency, (current, previous) in sorted(selectors.revenue_windows(now=now).items()):
        results.append(
            rules.revenue_dip(
                currency=currency, current=current, previous=previous, dip_percent=settings.ALERT_REVENUE_DIP_PERCENT
            )
        )
    return results


@dataclass
class Evaluation:
    skipped: bool = False
    results: list[rules.RuleResult] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    notified: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.skipped:
            return "alerts: skipped: already running"
        firing = sum(result.firing for result in self.results)
        return (
            f"alerts: {len(self.results)} rules, {firing} firing, "
            f"{len(self.changes)} changes, {len(self.notified)} notified"
        )


def _apply(alert: Alert | None, result: rules.RuleResult, now: datetime) -> tuple[Alert, bool]:
    """The alert's new state after one result; returns it (unsaved) and whether it was firing before."""
    was_firing = alert is not None and alert.status == Alert.Status.FIRING
    if alert is None:
        alert = Alert(rule=result.rule, fingerprint=result.fingerprint)
    if result.firing and not was_firing:
        alert.started_at, alert.resolved_at = now, None
    if not result.firing and was_firing:
        alert.resolved_at = now
    alert.status = Alert.Status.FIRING if result.firing else Alert.Status.RESOLVED
    alert.severity = result.severity
    alert.summary = result.summary[:300]
    alert.observed, alert.threshold = result.observed, result.threshold
    alert.last_evaluated_at = now
    return alert, was_firing


def _message(notes: list[tuple[str, Alert]]) -> tuple[str, str]:
    firing = sum(kind != "resolved" for kind, _ in notes)
    resolved = len(notes) - firing
    subject = "EchoPilot alerts: " + ", ".join(
        part for part in (f"{firing} firing" if firing else "", f"{resolved} resolved" if resolved else "") if part
    )
    lines = []
    for kind, alert in notes:
        label = {"firing": "FIRING", "reminder": "STILL FIRING", "resolved": "RESOLVED"}[kind]
        since = f" since {utc_iso(alert.started_at)}" if kind != "resolved" else f" at {utc_iso(alert.resolved_at)}"
        lines.append(f"[{label}] {alert.severity} {alert.name}{since}: {alert.summary}")
    return subject, "\n".join(lines)


def alerts_evaluate(*, now: datetime | None = None) -> Evaluation:
    """Apply the rules, update alert state and send one message for everything that changed.

    Never overlaps another evaluation (a lease; the second one is skipped). State,
    audit lines and the notification rows commit together or not at all; the
    notification is delivered by the task queue after commit.
    """
    token = evaluation_lock_acquire()
    if token is None:
        return Evaluation(skipped=True)
    try:
        now = now or timezone.now()
        evaluation = Evaluation(results=alert_rule_results(now=now))
        with transaction.atomic():
            existing = {(alert.rule, alert.fingerprint): alert for alert in Alert.objects.select_for_update()}
            silenced = selectors.silenced_rules(now=now)
            results = {(result.rule, result.fingerprint): result for result in evaluation.results}
            for key, alert in existing.items():  # a firing alert whose rule has no data any more is over
                if key not in results and alert.status == Alert.Status.FIRING:
                    results[key] = rules.RuleResult(
                        alert.rule, alert.severity, False, None, alert.threshold or 0.0, "no data", alert.fingerprint
                    )
            notes = []
            for key, result in results.items():
                if key not in existing and not result.firing:
                    continue  # nothing to remember about a rule that has never fired
                alert, was_firing = _apply(existing.get(key), result, now)
                kind = rules.notification_kind(
                    was_firing=was_firing,
                    firing=result.firing,
                    started_at=alert.started_at,
                    last_notified_at=alert.last_notified_at,
                    now=now,
                    repeat=timedelta(hours=settings.ALERT_REPEAT_HOURS),
                    silenced=alert.rule in silenced,
                )
                if kind:
                    alert.last_notified_at = now
                    notes.append((kind, alert))
                    evaluation.notified.append(f"{kind}:{alert.name}")
                alert.save()
                if was_firing != result.firing:
                    evaluation.changes.append(f"{alert.status}:{alert.name}")
                    audit_event(
                        "production_alerts",
                        f"alert_{alert.status}",
                        rule=alert.rule,
                        fingerprint=alert.fingerprint,
                        severity=alert.severity,
                        observed=alert.observed,
                        threshold=alert.threshold,
                        summary=alert.summary,
                        silenced=alert.rule in silenced,
                        notified=kind is not None,
                    )
            if notes:
                subject, text = _message(notes)
                notify(kind=Kind.ALERT, subject=subject, text=text)
            write_latest(
                "production_alerts",
                {
                    "ts": utc_iso(now),
                    "results": [asdict(result) for result in evaluation.results],
                    "changes": evaluation.changes,
                    "notified": evaluation.notified,
                },
            )
        return evaluation
    finally:
        evaluation_lock_release(token)


# --- Daily report ------------------------------------------------------------------------------


def daily_report_send(*, now: datetime | None = None) -> str:
    """Yesterday's (UTC) report by email to REPORTS_TO, once per day (idempotency key)."""
    now = now or timezone.now()
    day = (now.astimezone(UTC) - timedelta(days=1)).date()
    if not settings.REPORTS_TO:
        audit_event("observability", "daily_report_skipped", day=day, reason="REPORTS_TO is empty")
        return f"daily report for {day}: skipped (REPORTS_TO is empty)"
    since = datetime.combine(day, time.min, tzinfo=UTC)
    latest = selectors.snapshot_latest()
    context = {
        "day": day,
        **selectors.day_summary(since=since, until=since + timedelta(days=1)),
        "health": latest.data["health"] if latest else None,
        "snapshot_at": latest.data["ts_iso"] if latest else None,
        "weekly_audit": cache.get(WEEKLY_AUDIT_KEY),
    }
    email, created = email_send(
        to=[normalize_address(address) for address in settings.REPORTS_TO],
        subject=f"EchoPilot daily report {day}",
        body=render_to_string("observability/daily_report.txt", context),
        html=render_to_string("observability/daily_report.html", context),
        kind=Kind.REPORT,
        idempotency_key=f"daily-report:{day}",
    )
    audit_event("observability", "daily_report", day=day, email=email.public_id, created=created)
    return f"daily report for {day}: {email.public_id}{'' if created else ' (already sent)'}"


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


def weekly_audit(*, now: datetime | None = None, max_examples: int = 20) -> dict:
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


def self_heal(*, now: datetime | None = None, limit: int = 200) -> dict:
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


def retention(*, now: datetime | None = None, batch: int = 1000) -> dict:
    """Delete rows and rotated NDJSON files past RETENTION_DAYS (in batches); gzip rotated files older than a day.

    The rows: snapshots, task results, resolved alerts and the per-minute counts of refused webhook deliveries.

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
        "webhook_rejections": _delete_in_batches(WebhookRejection.objects.filter(minute__lt=cutoff), batch),
    }
    files = logfiles.rotated_housekeep(
        now=now, compress_after_sec=86400, delete_after_sec=settings.RETENTION_DAYS * 86400
    )
    done = {"rows": rows, "files": files}
    audit_event("observability", "retention", cutoff=cutoff, **done)
    return done
