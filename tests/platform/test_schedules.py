"""The schedule registry, sync_schedules and the heartbeat task."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.models import Schedule
from django_q.tasks import async_task

from echopilot.models import Heartbeat
from echopilot.schedules import REGISTRY, PeriodicTask, schedules_sync
from tests.factories import make_heartbeat, make_schedule

pytestmark = pytest.mark.django_db


def test_every_registered_task_is_importable_and_unique():
    assert len({task.name for task in REGISTRY}) == len(REGISTRY)
    for task in REGISTRY:
        assert callable(import_string(task.func)), task.func


def test_a_task_needs_exactly_one_of_minutes_or_cron():
    with pytest.raises(ValueError):
        PeriodicTask("both", "x.y", minutes=1, cron="* * * * *")
    with pytest.raises(ValueError):
        PeriodicTask("neither", "x.y")


def test_sync_creates_the_registry():
    report = schedules_sync()
    assert report.created == [task.name for task in REGISTRY]
    heartbeat = Schedule.objects.get(name="heartbeat")
    assert heartbeat.func == "echopilot.tasks.heartbeat"
    assert heartbeat.schedule_type == Schedule.MINUTES and heartbeat.minutes == 1
    assert heartbeat.repeats == -1


def test_sync_is_idempotent_and_keeps_the_next_run_of_unchanged_schedules():
    schedules_sync()
    later = timezone.now() + timedelta(minutes=42)
    Schedule.objects.filter(name="heartbeat").update(next_run=later)
    out = StringIO()
    call_command("sync_schedules", stdout=out)
    assert "0 created, 0 updated, 0 deleted" in out.getvalue()
    assert Schedule.objects.get(name="heartbeat").next_run == later
    assert Schedule.objects.filter(name="heartbeat").count() == 1


def test_sync_updates_a_changed_schedule_and_deletes_unknown_and_duplicate_ones():
    registry = (
        PeriodicTask("one", "echopilot.tasks.heartbeat", minutes=5),
        PeriodicTask("daily", "echopilot.tasks.heartbeat", cron="0 9 * * *"),
    )
    schedules_sync(registry=registry)
    make_schedule("stray")
    make_schedule("one", minutes=5)
    changed = (
        PeriodicTask("one", "echopilot.tasks.heartbeat", minutes=10),
        PeriodicTask("daily", "echopilot.tasks.heartbeat", cron="0 9 * * *"),
    )
    report = schedules_sync(registry=changed)
    assert report.updated == ["one"]
    assert report.unchanged == ["daily"]
    assert sorted(report.deleted) == ["one", "stray"]
    assert sorted(Schedule.objects.values_list("name", flat=True)) == ["daily", "one"]
    assert Schedule.objects.get(name="one").minutes == 10


def test_a_cron_schedule_starts_at_its_next_cron_time_in_utc():
    schedules_sync(registry=(PeriodicTask("daily", "echopilot.tasks.heartbeat", cron="0 9 * * *"),))
    next_run = Schedule.objects.get(name="daily").next_run
    assert (next_run.hour, next_run.minute) == (9, 0)
    assert next_run > timezone.now()
    assert next_run.utcoffset() == timedelta(0)


def test_dry_run_changes_nothing():
    report = schedules_sync(dry_run=True)
    assert report.created and not Schedule.objects.exists()


def test_the_heartbeat_records_node_and_pid_and_leaves_pruning_to_retention(settings):
    settings.NODE_NAME = "node-a"
    old = make_heartbeat(node="node-a", created_at=timezone.now() - timedelta(hours=49))
    async_task("echopilot.tasks.heartbeat")  # runs synchronously in tests
    beats = list(Heartbeat.objects.all())
    assert old in beats and len(beats) == 2  # pruning is observability.housekeeping.retention_apply's job
    newest = beats[0]
    assert newest.node == "node-a" and newest.pid == __import__("os").getpid()
    assert timezone.now() - newest.created_at < timedelta(seconds=5)


def test_retry_is_longer_than_the_task_timeout(settings):
    assert settings.Q_CLUSTER["retry"] > settings.Q_CLUSTER["timeout"]
    assert settings.Q_CLUSTER["catch_up"] is False
    assert settings.Q_CLUSTER["max_attempts"] >= 1
