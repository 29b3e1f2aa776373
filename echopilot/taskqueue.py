"""The task queue's health, measured outside the queue.

A qcluster proves progress in the database: the ``heartbeat`` schedule writes a
``Heartbeat`` row every minute, and the scheduler (inside each qcluster) moves every
schedule's ``next_run`` forward when it is due. Nothing here runs on the queue, so
readiness (``/readyz``), ``/metrics``, the dashboard and the watchdog in
``manage.py serve`` can see a queue that stopped, which the queue itself cannot
report.

- ``task_queue_state()`` measures (the heartbeat, the most overdue schedule, the
  oldest waiting task, the watchdog's open stalls);
- ``task_queue_overdue()`` and ``task_queue_stall()`` judge a measurement against
  ``TASKS_STALL_SECONDS``;
- ``task_queue_event_record()`` is how the watchdog records what it saw and did.
"""

import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import psutil
from croniter import croniter
from django.conf import settings
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.brokers.orm import ORM
from django_q.brokers.redis_broker import Redis
from django_q.models import OrmQ, Schedule
from django_q.signing import SignedPackage

from echopilot.audit import audit_event, utc_iso
from echopilot.models import Heartbeat, TaskQueueEvent

logger = logging.getLogger(__name__)

HEARTBEAT_FUNC = "echopilot.tasks.heartbeat"
# Set by `manage.py serve` for each qcluster it starts: the file its monitor touches after every finished task.
PROGRESS_FILE_ENV = "SERVE_PROGRESS_FILE"
# django-q2's sentinel runs the scheduler every 30 s (its guard loop), so a due schedule waits up to that long.
SCHEDULER_PASS = timedelta(seconds=30)


@dataclass(frozen=True)
class Stall:
    since: datetime  # the last sign of progress
    reason: str


@dataclass(frozen=True)
class TaskQueueState:
    now: datetime
    heartbeat_at: datetime | None = None
    # The heartbeat schedule's period; None when there is no heartbeat schedule (no heartbeat is expected).
    heartbeat_period: timedelta | None = None
    late_schedule: str = ""  # the due schedule whose run is the most overdue ...
    late_since: datetime | None = None  # ... and since when it is due
    oldest_queued_at: datetime | None = None  # when the oldest waiting task was queued; None when none waits
    queue_readable: bool = True  # False: the broker could not be read (oldest_queued_at is unknown)
    open_stalls: list[TaskQueueEvent] = field(default_factory=list)

    @property
    def heartbeat_age_seconds(self) -> float | None:
        return None if self.heartbeat_at is None else (self.now - self.heartbeat_at).total_seconds()

    @property
    def schedule_late_seconds(self) -> float:
        return 0.0 if self.late_since is None else (self.now - self.late_since).total_seconds()

    @property
    def oldest_queued_age_seconds(self) -> float | None:
        if not self.queue_readable:
            return None
        return 0.0 if self.oldest_queued_at is None else max(0.0, (self.now - self.oldest_queued_at).total_seconds())


# --- Measuring ------------------------------------------------------------------------------


def _heartbeat_period() -> timedelta | None:
    schedule = Schedule.objects.filter(func=HEARTBEAT_FUNC).exclude(repeats=0).order_by("pk").first()
    if schedule is None or schedule.next_run is None:
        return None
    if schedule.schedule_type == Schedule.CRON:  # django-q2 computes a cron's next run from now, not from next_run
        return croniter(schedule.cron, schedule.next_run).get_next(datetime) - schedule.next_run
    return schedule.calculate_next_run(schedule.next_run) - schedule.next_run


def oldest_queued_at() -> tuple[datetime | None, bool]:
    """When the oldest task waiting in the broker was queued, and whether the broker could be read.

    ORM broker (the database): the lowest-numbered queued row of our queue, including one
    handed to a cluster that has not acknowledged it yet (it is handed out again after
    ``Q_RETRY``). Redis broker: the head of the list; Redis has no receipts, so a task a
    dead cluster took is gone from the list (the periodic sweeps re-send what it carried).
    The time is the ``started`` stamp ``async_task`` signs into every task.
    """
    try:
        broker = get_broker()
        if isinstance(broker, ORM):
            row = OrmQ.objects.filter(key=broker.list_key).order_by("pk").values_list("payload", flat=True).first()
        elif isinstance(broker, Redis):
            row = broker.connection.lindex(broker.list_key, 0)
        else:
            return None, False
        if row is None:
            return None, True
        started = SignedPackage.loads(row).get("started")
    except Exception as exc:  # the broker may be down, a payload may be unreadable: unknown, not wrong
        logger.warning("oldest queued task unreadable: %s", type(exc).__name__)
        return None, False
    return (started if isinstance(started, datetime) else None), True


def open_stalls() -> list[TaskQueueEvent]:
    """The watchdog's stalls not followed by a recovery of the same node, oldest first."""
    latest = (
        TaskQueueEvent.objects.filter(
            node=OuterRef("node"), event__in=[TaskQueueEvent.Event.STALLED, TaskQueueEvent.Event.RECOVERED]
        )
        .order_by("-created_at", "-id")
        .values("id")[:1]
    )
    return list(
        TaskQueueEvent.objects.filter(event=TaskQueueEvent.Event.STALLED, id=Subquery(latest)).order_by("created_at")
    )


def task_queue_state(*, now: datetime | None = None) -> TaskQueueState:
    now = now or timezone.now()
    late = Schedule.objects.exclude(repeats=0).filter(next_run__lt=now).order_by("next_run").first()
    oldest, readable = oldest_queued_at()
    return TaskQueueState(
        now=now,
        heartbeat_at=Heartbeat.objects.order_by("-created_at").values_list("created_at", flat=True).first(),
        heartbeat_period=_heartbeat_period(),
        late_schedule=(late.name or f"#{late.pk}") if late else "",
        late_since=late.next_run if late else None,
        oldest_queued_at=oldest,
        queue_readable=readable,
        open_stalls=open_stalls(),
    )


# --- Judging ------------------------------------------------------------------------------


def task_queue_overdue(state: TaskQueueState, *, started_at: datetime) -> Stall | None:
    """The heartbeat (its last row plus its period) or a due schedule overdue by more than ``TASKS_STALL_SECONDS``.

    Overdue means past the scheduler pass that should have run it: django-q2's sentinel
    looks for due schedules every 30 s, so a schedule is normally up to that late.
    ``started_at`` is the start of whoever asks (a web process, a qcluster): for
    ``TASKS_START_GRACE_SECONDS`` after it, nothing is due, so a start after downtime is
    not reported stalled before the qcluster had its chance. Without any heartbeat yet,
    the first one is due one period after the grace.
    """
    grace_end = started_at + timedelta(seconds=settings.TASKS_START_GRACE_SECONDS)
    limit = timedelta(seconds=settings.TASKS_STALL_SECONDS) + SCHEDULER_PASS
    found = []
    if state.heartbeat_period is not None:
        due = max(state.heartbeat_at or grace_end, grace_end) + state.heartbeat_period
        if state.now - due > limit:
            found.append(Stall(since=state.heartbeat_at or due, reason="heartbeat overdue"))
    if state.late_since is not None and state.now - max(state.late_since, grace_end) > limit:
        found.append(Stall(since=state.late_since, reason=f"schedule {state.late_schedule} overdue"))
    if not found:
        return None
    return Stall(since=min(stall.since for stall in found), reason="; ".join(stall.reason for stall in found))


def task_queue_stall(state: TaskQueueState, *, started_at: datetime) -> Stall | None:
    """The verdict of readiness, metrics and the dashboard: overdue, or a watchdog's stall with no heartbeat since.

    A stall the watchdog of one node recorded counts until any qcluster writes a heartbeat
    after it, so with two nodes the service is not reported stalled while the other one works.
    """
    found = []
    for event in state.open_stalls:
        if state.heartbeat_at is None or state.heartbeat_at < event.created_at:
            found.append(Stall(since=event.stalled_since or event.created_at, reason="qcluster stalled (watchdog)"))
    overdue = task_queue_overdue(state, started_at=started_at)
    if overdue:
        found.append(overdue)
    if not found:
        return None
    reasons = list(dict.fromkeys(stall.reason for stall in found))
    return Stall(since=min(stall.since for stall in found), reason="; ".join(reasons))


@cache
def process_started_at() -> datetime:
    """When this process started (a web worker judges the queue only after its grace period)."""
    return datetime.fromtimestamp(psutil.Process().create_time(), tz=UTC)


def stall_text(stall: Stall) -> str:
    return f"stalled since {utc_iso(stall.since)} ({stall.reason})"


# --- Recording (the watchdog) ------------------------------------------------------------------


def task_queue_event_record(
    *, node: str, event: str, reason: str = "", stalled_since: datetime | None = None
) -> TaskQueueEvent:
    """One row and one ``task_queue.ndjson`` line for what the watchdog saw or did."""
    row = TaskQueueEvent.objects.create(node=node[:100], event=event, reason=reason[:300], stalled_since=stalled_since)
    audit_event("task_queue", event, node=row.node, reason=row.reason, stalled_since=stalled_since)
    return row


def record_progress(sender=None, **kwargs) -> None:
    """``post_execute`` receiver, in a qcluster's monitor process: a task finished, touch the progress file.

    Only qclusters started by ``manage.py serve`` have the file (``SERVE_PROGRESS_FILE``);
    its modification time is how the watchdog sees this one cluster finish tasks.
    """
    path = os.environ.get(PROGRESS_FILE_ENV)
    if not path:
        return
    try:
        Path(path).touch()
    except OSError as exc:
        logger.warning("progress file %s not touched: %s", path, exc)
