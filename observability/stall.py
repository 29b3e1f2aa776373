"""The task queue's stall alert, sent from outside the queue by the watchdog in ``manage.py serve``.

The queue cannot carry the news of its own stall. So the message is written like every
other alert (``notify()``: an email to ``ALERT_EMAIL_TO`` and a Telegram message, stored,
audited, their delivery enqueued) and then delivered right here, in the watchdog's
thread, through the same claims the workers use: when the queue runs again, its delivery
tasks find the rows sent and send nothing twice. A delivery that fails now stays queued
with its retry time, for the sweeps once the queue is back.

A silence for the rule ``task_queue_stalled`` (admin → Observability → Silences), or a
maintenance window of it or of all rules, stops the messages; the watchdog's events are recorded all the same.
"""

from datetime import datetime

from django.utils import timezone

from echopilot.audit import audit_event
from echopilot.timefmt import moment_format
from notifications.models import Kind
from notifications.services import Notified, email_deliver, notify, telegram_sweep
from observability import selectors

RULE = "task_queue_stalled"


def _message(*, event: str, node: str, since: datetime, reason: str, now: datetime) -> tuple[str, str]:
    if event == "stalled":
        return (
            f"EchoPilot: task queue stalled on {node}",
            f"[FIRING] critical {RULE}/{node} since {moment_format(since)}: {reason}. "
            "No email, receipt, alert evaluation, snapshot or retention runs on this qcluster "
            "until it is back; the watchdog of `serve` is restarting it.",
        )
    return (
        f"EchoPilot: task queue on {node} recovered",
        f"[RESOLVED] {RULE}/{node} at {moment_format(now)}: {reason} (stalled since {moment_format(since)}).",
    )


def task_queue_alert_receive(sender, *, event: str, node: str, since: datetime, reason: str, **kwargs) -> None:
    """``echopilot.signals.task_queue_stall_changed``, sent by the watchdog of ``manage.py serve``."""
    task_queue_alert(event=event, node=node, since=since, reason=reason)


def task_queue_alert(
    *, event: str, node: str, since: datetime, reason: str, now: datetime | None = None
) -> Notified | None:
    """Announce that ``node``'s qcluster ``stalled`` or ``recovered``, and deliver the messages now.

    Returns what was sent, or None when the rule is silenced.
    """
    if event not in ("stalled", "recovered"):
        raise ValueError(f"unknown task queue event {event!r}")
    now = now or timezone.now()
    silenced = bool(selectors.silencers(now=now).of(RULE, node))
    audit_event(
        "production_alerts",
        f"alert_{'firing' if event == 'stalled' else 'resolved'}",
        rule=RULE,
        fingerprint=node,
        severity="critical",
        summary=reason,
        since=since,
        silenced=silenced,
        notified=not silenced,
    )
    if silenced:
        return None
    subject, text = _message(event=event, node=node, since=since, reason=reason, now=now)
    notified = notify(kind=Kind.ALERT, subject=subject, text=text)
    if notified.email is not None:
        email_deliver(email_id=notified.email.pk)
    if notified.telegram:
        telegram_sweep()
    return notified
