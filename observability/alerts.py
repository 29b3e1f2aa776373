"""Production alerts: the rules applied every 5 minutes, alert state and its transitions, a message per alert to
tell (with Acknowledge and Silence buttons), and what those buttons do."""

import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.html import escape

from echopilot.audit import audit_event, utc_iso, write_latest
from echopilot.exceptions import Conflict, Invalid, NotFound
from echopilot.timefmt import moment_format
from notifications.models import Kind
from notifications.rules import TELEGRAM_LIMIT
from notifications.services import notify
from notifications.signals import ButtonAnswer
from observability import rules, selectors
from observability.models import Alert, AlertTransition, EvaluationLock, Silence

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


def _timing(rule: str) -> tuple[timedelta, timedelta, timedelta]:
    """A rule's ``for``, ``keep_firing_for`` and repeat interval: its own from ALERT_RULE_TIMING, else the
    ALERT_FOR_MINUTES, ALERT_KEEP_FIRING_FOR_MINUTES and ALERT_REPEAT_HOURS every rule has."""
    own = settings.ALERT_RULE_TIMING.get(rule, {})
    return (
        timedelta(minutes=own.get("for", settings.ALERT_FOR_MINUTES)),
        timedelta(minutes=own.get("keep", settings.ALERT_KEEP_FIRING_FOR_MINUTES)),
        timedelta(hours=own.get("repeat", settings.ALERT_REPEAT_HOURS)),
    )


def _transition(alert: Alert, *, before: str, after: str, now: datetime, by: str = "", note: str = "", **extra) -> None:
    """Record one change of an alert: an ``AlertTransition`` row and a ``production_alerts`` line (after commit)."""
    AlertTransition.objects.create(alert=alert, from_state=before, to_state=after, at=now, by=by, note=note[:300])
    audit_event(
        "production_alerts",
        f"alert_{after}",
        alert_id=alert.pk,
        rule=alert.rule,
        fingerprint=alert.fingerprint,
        severity=alert.severity,
        observed=alert.observed,
        threshold=alert.threshold,
        summary=alert.summary,
        **{"from": before or None, "by": by or None, "note": note or None, "at": utc_iso(now)},
        **extra,
    )


def _apply(alert: Alert, result: rules.RuleResult, now: datetime) -> str:
    """Move ``alert`` (unsaved) one evaluation on; returns the state it had before ("" for a new one)."""
    before = alert.status or ""
    hold, keep, _ = _timing(alert.rule)
    step = rules.alert_step(
        status=before or None,
        condition=result.firing,
        pending_since=alert.pending_since,
        cleared_at=alert.cleared_at,
        now=now,
        hold=hold,
        keep=keep,
    )
    if step.status == Alert.Status.FIRING and before != Alert.Status.FIRING:  # a new firing episode
        alert.started_at, alert.resolved_at = now, None
        alert.acknowledged_at, alert.acknowledged_by = None, ""
    if step.status == Alert.Status.RESOLVED and before == Alert.Status.FIRING:
        alert.resolved_at = now
    alert.status, alert.pending_since, alert.cleared_at = step.status, step.pending_since, step.cleared_at
    alert.severity = result.severity
    alert.summary = result.summary[:300]
    alert.observed, alert.threshold = result.observed, result.threshold
    alert.last_evaluated_at = now
    return before


ACTIVE = (Alert.Status.PENDING, Alert.Status.FIRING)
LABELS = {"firing": "FIRING", "reminder": "STILL FIRING", "resolved": "RESOLVED"}


def alert_buttons(alert: Alert) -> list[list[list[str]]]:
    """The inline buttons under a firing alert's Telegram message (``alert_button_receive`` handles them)."""
    return [
        [["Acknowledge", f"ack:{alert.pk}"], ["Silence 1 h", f"silence_1h:{alert.pk}"]],
        [["Silence until 09:00 tomorrow", f"silence_morning:{alert.pk}"]],
    ]


def _message(kind: str, alert: Alert) -> tuple[str, str]:
    """One alert's message: its own, so that its buttons act on exactly this alert."""
    label = LABELS[kind]
    subject = f"EchoPilot alert {kind if kind != 'reminder' else 'still firing'}: {alert.name}"
    since = (
        f" since {moment_format(alert.started_at)}" if kind != "resolved" else f" at {moment_format(alert.resolved_at)}"
    )
    text = f"[{label}] {alert.severity} {alert.name}{since}: {alert.summary}"
    if kind == "resolved" and alert.acknowledged_by:
        text += f"\nAcknowledged by {alert.acknowledged_by} at {moment_format(alert.acknowledged_at)}."
    return subject, text


def alerts_evaluate(*, now: datetime | None = None) -> Evaluation:
    """Apply the rules, move every alert on (pending, firing, resolved) and send a message per alert to tell.

    Never overlaps another evaluation (a lease; the second one is skipped). State,
    transitions, audit lines and the notification rows commit together or not at
    all; the notifications are delivered by the task queue after commit. The
    alert rows are locked (``select_for_update``) so a button pressed meanwhile
    (``alert_acknowledge``, ``alert_silence``) waits for this evaluation, or it waits for the press.
    """
    token = evaluation_lock_acquire()
    if token is None:
        return Evaluation(skipped=True)
    try:
        now = now or timezone.now()
        evaluation = Evaluation(results=alert_rule_results(now=now))
        with transaction.atomic():
            existing = {(alert.rule, alert.fingerprint): alert for alert in Alert.objects.select_for_update()}
            silencers = selectors.silencers(now=now)
            results = {(result.rule, result.fingerprint): result for result in evaluation.results}
            for (
                key,
                alert,
            ) in existing.items():  # an active alert whose rule has no data any more: its condition is over
                if key not in results and alert.status in ACTIVE:
                    results[key] = rules.RuleResult(
                        alert.rule, alert.severity, False, None, alert.threshold or 0.0, "no data", alert.fingerprint
                    )
            notes = []
            for key, result in results.items():
                if key not in existing and not result.firing:
                    continue  # nothing to remember about a rule that has never fired
                alert = existing.get(key) or Alert(rule=result.rule, fingerprint=result.fingerprint)
                was_silenced = alert.silenced_by
                before = _apply(alert, result, now)
                silence = silencers.of(alert.rule, alert.fingerprint)
                kind = rules.notification_kind(
                    was_firing=before == Alert.Status.FIRING,
                    firing=alert.status == Alert.Status.FIRING,
                    started_at=alert.started_at,
                    last_notified_at=alert.last_notified_at,
                    now=now,
                    repeat=_timing(alert.rule)[2],
                    silenced=bool(silence),
                    acknowledged=alert.acknowledged_at is not None,
                    send_resolved_when_silenced=settings.ALERT_SEND_RESOLVED_WHEN_SILENCED,
                )
                alert.silenced_by = silence if alert.status in ACTIVE else ""
                if kind:
                    alert.last_notified_at = now
                    notes.append((kind, alert))
                    evaluation.notified.append(f"{kind}:{alert.name}")
                alert.save()
                if before != alert.status:
                    evaluation.changes.append(f"{alert.status}:{alert.name}")
                    _transition(
                        alert, before=before, after=alert.status, now=now, silenced=bool(silence), notified=bool(kind)
                    )
                if alert.status in ACTIVE and bool(silence) != bool(was_silenced and before in ACTIVE):
                    after = "silenced" if silence else "unsilenced"
                    _transition(alert, before=alert.status, after=after, now=now, note=silence or "the silence ended")
            for kind, alert in notes:
                subject, text = _message(kind, alert)
                notify(
                    kind=Kind.ALERT,
                    subject=subject,
                    text=text,
                    buttons=alert_buttons(alert) if kind != "resolved" else None,
                )
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


# --- Acknowledging and silencing (the Telegram buttons, or anyone holding an alert's id) ------------------------


def _locked_alert(alert_id: int) -> Alert:
    alert = Alert.objects.select_for_update().filter(pk=alert_id).first()
    if alert is None:
        raise NotFound("This alert no longer exists.")
    if alert.status not in ACTIVE:
        raise Conflict(f"{alert.name} is {alert.status} already: nothing to do.")
    return alert


def alert_acknowledge(*, alert_id: int, by: str, now: datetime | None = None) -> Alert:
    """Someone is on it: no reminders until the alert resolves (its resolve is still sent); records who and when.

    Only a firing alert can be acknowledged (a pending one was never announced); ``Conflict`` when it is not, or
    was acknowledged already in this episode; ``NotFound`` for an unknown id.
    """
    now = now or timezone.now()
    with transaction.atomic():
        alert = _locked_alert(alert_id)
        if alert.status != Alert.Status.FIRING:
            raise Conflict(f"{alert.name} is {alert.status}, not firing: nothing to acknowledge.")
        if alert.acknowledged_at is not None:
            raise Conflict(
                f"{alert.name} was acknowledged already by {alert.acknowledged_by} "
                f"at {moment_format(alert.acknowledged_at)}."
            )
        Alert.objects.filter(pk=alert.pk).update(acknowledged_at=now, acknowledged_by=by)
        alert.acknowledged_at, alert.acknowledged_by = now, by
        _transition(alert, before=alert.status, after="acknowledged", now=now, by=by)
    return alert


def alert_silence(*, alert_id: int, until: datetime, by: str, now: datetime | None = None, reason: str = "") -> Silence:
    """Silence this one alert (its rule and fingerprint: a USD revenue dip, not the EUR one) until ``until``.

    A one-off ``Silence`` row like those of the admin, so it shows and can be deleted there. The alert's state is
    still evaluated; its resolve is still sent (``ALERT_SEND_RESOLVED_WHEN_SILENCED``).
    """
    now = now or timezone.now()
    if until <= now:
        raise Invalid("until must be in the future.")
    with transaction.atomic():
        alert = _locked_alert(alert_id)
        silence = Silence.objects.create(
            rule=alert.rule,
            fingerprint=alert.fingerprint,
            until=until,
            reason=(reason or "silenced from its alert message")[:300],
            by=by,
            created_at=now,
        )
        Alert.objects.filter(pk=alert.pk).update(silenced_by=silence.text)
        alert.silenced_by = silence.text
        _transition(alert, before=alert.status, after="silenced", now=now, by=by, note=silence.text)
    return silence


def alerts_silence_refresh(*, by: str, now: datetime | None = None) -> int:
    """Mark which active alerts a silence or maintenance window covers now, after one was added, changed or
    deleted in the admin (the evaluation does the same every 5 minutes); returns how many changed."""
    now = now or timezone.now()
    changed = 0
    with transaction.atomic():
        silencers = selectors.silencers(now=now)
        for alert in Alert.objects.select_for_update().filter(status__in=ACTIVE):
            silence = silencers.of(alert.rule, alert.fingerprint)
            if silence == alert.silenced_by:
                continue
            Alert.objects.filter(pk=alert.pk).update(silenced_by=silence)
            if bool(silence) != bool(alert.silenced_by):
                after = "silenced" if silence else "unsilenced"
                _transition(alert, before=alert.status, after=after, now=now, by=by, note=silence or "silence removed")
            changed += 1
    return changed


def morning_after(now: datetime) -> datetime:
    """09:00 of the next calendar day in ``TIME_ZONE`` (aware UTC): "Silence until 09:00 tomorrow"."""
    zone = ZoneInfo(settings.TIME_ZONE)
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(9), tzinfo=zone).astimezone(UTC)


BUTTON_ACTIONS = ("ack", "silence_1h", "silence_morning")


def alert_button_receive(sender, *, action: str, target: str, by: str, message=None, now: datetime, **kwargs):
    """``notifications.signals.telegram_button``: Acknowledge, Silence 1 h, Silence until 09:00 tomorrow.

    Answers with a notice for the person who pressed and, when it changed the alert, the message's text with a line
    saying so and no buttons left. An unknown or resolved alert: a notice, nothing changed.
    """
    if action not in BUTTON_ACTIONS:
        return None
    if not (isinstance(target, str) and target.isascii() and target.isdigit() and len(target) <= 18):
        return ButtonAnswer(notice="This alert no longer exists.")
    try:
        if action == "ack":
            alert_acknowledge(alert_id=int(target), by=by, now=now)
            line = f"Acknowledged by {by} at {moment_format(now)}"
        else:
            until = now + timedelta(hours=1) if action == "silence_1h" else morning_after(now)
            alert_silence(alert_id=int(target), until=until, by=by, now=now)
            line = f"Silenced until {moment_format(until)} by {by}"
    except NotFound as error:
        return ButtonAnswer(notice=error.message[:200])
    except Conflict as error:
        return ButtonAnswer(notice=error.message[:200], buttons=[])
    text = None
    if message is not None:
        addition = "\n\n" + escape(line)
        text = message.text[: TELEGRAM_LIMIT - len(addition)] + addition
    return ButtonAnswer(notice=line[:200], text=text, buttons=[])
