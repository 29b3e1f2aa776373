"""Production alerts: the rules applied every 5 minutes, alert state, one message for everything that changed."""

import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from echopilot.audit import audit_event, utc_iso, write_latest
from echopilot.timefmt import moment_format
from notifications.models import Kind
from notifications.services import notify
from observability import rules, selectors
from observability.models import Alert, EvaluationLock

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


def evaluation_lock_release(*, token: str) -> None:
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
        since = (
            f" since {moment_format(alert.started_at)}"
            if kind != "resolved"
            else f" at {moment_format(alert.resolved_at)}"
        )
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
        evaluation_lock_release(token=token)
