"""The schedule registry: every periodic task of the project, declared here and nowhere else.

``manage.py sync_schedules`` makes django-q2's ``Schedule`` table match this
list by name: it creates what is missing, updates what changed (and only then
recomputes its next run) and deletes schedules that are no longer listed.
Running it twice changes nothing the second time.
"""

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    func: str
    minutes: int | None = None  # every N minutes ...
    cron: str | None = None  # ... or a cron expression, evaluated in UTC
    kwargs: dict = field(default_factory=dict)

    def __post_init__(self):
        if (self.minutes is None) == (self.cron is None):
            raise ValueError(f"{self.name}: give exactly one of minutes or cron")

    def fields(self) -> dict:
        return {
            "func": self.func,
            "schedule_type": Schedule.MINUTES if self.minutes else Schedule.CRON,
            "minutes": self.minutes,
            "cron": self.cron,
            "kwargs": repr(self.kwargs) if self.kwargs else None,
            "args": None,
            "repeats": -1,
            "cluster": None,
        }


REGISTRY: tuple[PeriodicTask, ...] = (
    PeriodicTask("heartbeat", "echopilot.tasks.heartbeat", minutes=1),
    PeriodicTask("email-sweep", "notifications.tasks.email_sweep", minutes=1),
    PeriodicTask("telegram-sweep", "notifications.tasks.telegram_sweep", minutes=1),
    PeriodicTask("production-alerts", "observability.tasks.alerts_evaluate", minutes=5),
    PeriodicTask("observability-snapshot", "observability.tasks.snapshot", minutes=60),
    PeriodicTask("daily-report", "observability.tasks.daily_report", cron="0 9 * * *"),
    PeriodicTask("weekly-audit", "observability.tasks.weekly_audit", cron="30 0 * * 1"),
    PeriodicTask("self-heal", "observability.tasks.self_heal", minutes=360),
    PeriodicTask("retention", "observability.tasks.retention", cron="15 3 * * *"),
)


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def _first_run(task: PeriodicTask, schedule: Schedule):
    if task.cron:
        return schedule.calculate_next_run(timezone.now())
    return timezone.now()


@transaction.atomic
def schedules_sync(*, registry=REGISTRY, dry_run: bool = False) -> SyncReport:
    report = SyncReport()
    wanted = {task.name: task for task in registry}
    if len(wanted) != len(registry):
        raise ValueError("schedule names in the registry must be unique")
    existing: dict[str, Schedule] = {}
    for schedule in Schedule.objects.select_for_update().order_by("pk"):
        if schedule.name in wanted and schedule.name not in existing:
            existing[schedule.name] = schedule
        else:  # unknown to the registry, or a duplicate of a registered name
            report.deleted.append(schedule.name or f"#{schedule.pk}")
            if not dry_run:
                schedule.delete()
    for name, task in wanted.items():
        target = task.fields()
        schedule = existing.get(name)
        if schedule is None:
            report.created.append(name)
            if not dry_run:
                schedule = Schedule(name=name, **target)
                schedule.next_run = _first_run(task, schedule)
                schedule.save()
            continue
        if all(getattr(schedule, key) == value for key, value in target.items()):
            report.unchanged.append(name)
            continue
        report.updated.append(name)
        if not dry_run:
            for key, value in target.items():
                setattr(schedule, key, value)
            schedule.next_run = _first_run(task, schedule)
            schedule.save()
    return report
