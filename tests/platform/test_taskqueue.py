"""The task queue's health, measured outside the queue (echopilot/taskqueue.py) and reported by /readyz."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Schedule
from django_q.signing import SignedPackage
from django_q.tasks import async_task

from echopilot import taskqueue
from echopilot.models import Heartbeat, TaskQueueEvent
from echopilot.taskqueue import (
    task_queue_event_record,
    task_queue_overdue,
    task_queue_stall,
    task_queue_state,
)
from tests.factories import make_heartbeat, make_schedule

pytestmark = pytest.mark.django_db

STALL = 100  # TASKS_STALL_SECONDS in these tests
PASS = 30  # django-q2's scheduler pass
LONG_AGO = timedelta(days=1)  # a process start whose grace period is long over


@pytest.fixture(autouse=True)
def limits(settings):
    settings.TASKS_STALL_SECONDS = STALL
    settings.TASKS_START_GRACE_SECONDS = 60


def verdict(*, started_ago=LONG_AGO):
    now = timezone.now()
    return task_queue_stall(task_queue_state(now=now), started_at=now - started_ago)


def test_a_recent_heartbeat_and_punctual_schedules_are_no_stall():
    now = timezone.now()
    make_schedule("heartbeat", next_run=now + timedelta(seconds=20))
    make_heartbeat(node="node-q1", created_at=now - timedelta(seconds=40))
    assert verdict() is None


def test_the_heartbeat_is_a_stall_once_overdue_by_more_than_the_limit_past_the_scheduler_pass():
    now = timezone.now()
    make_schedule("heartbeat", next_run=now + timedelta(seconds=20))  # the scheduler still runs; the workers do not
    last = make_heartbeat(node="node-q1", created_at=now - timedelta(seconds=60 + PASS + STALL + 5)).created_at
    stall = verdict()
    assert stall.reason == "heartbeat overdue"
    assert stall.since == last
    Heartbeat.objects.update(created_at=now - timedelta(seconds=60 + PASS + STALL - 5))
    assert verdict() is None


def test_without_a_heartbeat_schedule_no_heartbeat_is_expected():
    make_heartbeat(node="node-q1", created_at=timezone.now() - timedelta(days=3))
    assert verdict() is None


def test_a_due_schedule_is_a_stall_once_overdue_by_more_than_the_limit_past_the_scheduler_pass():
    now = timezone.now()
    make_heartbeat(node="node-q1", created_at=now)
    due = now - timedelta(seconds=PASS + STALL + 5)
    make_schedule("email-sweep", func="notifications.tasks.email_sweep", next_run=due)
    stall = verdict()
    assert stall.reason == "schedule email-sweep overdue"
    assert stall.since == due
    Schedule.objects.update(next_run=now - timedelta(seconds=PASS + STALL - 5))
    assert verdict() is None


def test_nothing_is_overdue_during_the_grace_period_after_a_start():
    now = timezone.now()
    make_schedule("heartbeat", next_run=now - timedelta(hours=5))  # down for hours, just started again
    make_heartbeat(node="node-q1", created_at=now - timedelta(hours=5))
    assert verdict(started_ago=timedelta(seconds=10)) is None
    # A schedule due before the start counts as due at the end of the grace (60 s) ...
    assert verdict(started_ago=timedelta(seconds=60 + PASS + STALL - 5)) is None
    assert verdict(started_ago=timedelta(seconds=60 + PASS + STALL + 5)).reason == "schedule heartbeat overdue"
    # ... and the first heartbeat one period (60 s) after it.
    stall = verdict(started_ago=timedelta(seconds=60 + 60 + PASS + STALL + 5))
    assert stall.reason == "heartbeat overdue; schedule heartbeat overdue"
    assert stall.since == now - timedelta(hours=5)


def test_without_any_heartbeat_yet_the_first_one_is_due_one_period_after_the_grace():
    now = timezone.now()
    make_schedule("heartbeat", next_run=now + timedelta(seconds=20))
    assert verdict(started_ago=timedelta(seconds=60 + 60 + PASS + STALL - 5)) is None
    assert verdict(started_ago=timedelta(seconds=60 + 60 + PASS + STALL + 5)).reason == "heartbeat overdue"


def test_a_stall_the_watchdog_recorded_counts_until_a_heartbeat_follows_it(
    read_audit, django_capture_on_commit_callbacks
):
    now = timezone.now()
    make_heartbeat(node="node-q1", created_at=now - timedelta(seconds=30))
    since = now - timedelta(seconds=20)
    with django_capture_on_commit_callbacks(execute=True):
        task_queue_event_record(node="node-q1", event="stalled", reason="holds tasks", stalled_since=since)
    stall = verdict(started_ago=timedelta(seconds=1))  # no grace for what the watchdog saw
    assert stall.reason == "qcluster stalled (watchdog)"
    assert stall.since == since
    make_heartbeat(
        node="node-q1", created_at=timezone.now()
    )  # another node's qcluster works: the service is not stalled
    assert verdict() is None
    [line] = read_audit("task_queue")
    assert (line["event"], line["node"], line["reason"]) == ("stalled", "node-q1", "holds tasks")
    assert line["stalled_since"].startswith(since.strftime("%Y-%m-%dT%H:%M:%S"))


def test_a_stall_ends_with_the_recovery_of_its_node_and_no_other():
    task_queue_event_record(node="node-q1", event="stalled", reason="r", stalled_since=timezone.now())
    task_queue_event_record(node="node-q2", event="recovered", reason="r")
    assert [event.node for event in taskqueue.open_stalls()] == ["node-q1"]
    task_queue_event_record(node="node-q1", event="restarted", reason="r")
    assert [event.node for event in taskqueue.open_stalls()] == ["node-q1"]
    task_queue_event_record(node="node-q1", event="recovered", reason="r")
    assert taskqueue.open_stalls() == []
    assert TaskQueueEvent.objects.count() == 4


def test_the_oldest_waiting_task_is_read_from_the_broker():
    """From the database (ORM broker) on SQLite, from the Redis list with REDIS_URL: the first one queued."""
    broker = get_broker()
    broker.purge_queue()
    now = timezone.now()
    try:
        assert task_queue_state(now=now).oldest_queued_age_seconds == 0
        for age in (100, 10):
            broker.enqueue(
                SignedPackage.dumps({"id": f"t{age}", "func": "x.y", "started": now - timedelta(seconds=age)})
            )
        state = task_queue_state(now=now)
        assert state.queue_readable
        assert state.oldest_queued_age_seconds == 100
    finally:
        broker.purge_queue()


def test_an_unreadable_broker_is_unknown_not_empty(monkeypatch):
    def broken():
        raise ConnectionError("broker down")

    monkeypatch.setattr(taskqueue, "get_broker", broken)
    state = task_queue_state()
    assert state.queue_readable is False
    assert state.oldest_queued_age_seconds is None


def test_overdue_alone_ignores_the_watchdogs_stalls():
    now = timezone.now()
    task_queue_event_record(node="node-q1", event="stalled", reason="r", stalled_since=now)
    assert task_queue_overdue(task_queue_state(now=now), started_at=now - LONG_AGO) is None


def test_progress_is_recorded_only_for_a_qcluster_started_by_serve(tmp_path, monkeypatch):
    progress = tmp_path / "q1.progress"
    monkeypatch.delenv(taskqueue.PROGRESS_FILE_ENV, raising=False)
    taskqueue.record_progress(task={})
    assert not progress.exists()
    monkeypatch.setenv(taskqueue.PROGRESS_FILE_ENV, str(progress))
    async_task("echopilot.tasks.heartbeat")  # synchronous in the tests: worker, monitor, post_execute
    assert progress.exists()


# --- /readyz -----------------------------------------------------------------------------------


@pytest.fixture
def long_running(monkeypatch):
    """This web process started long ago: its grace period is over."""
    monkeypatch.setattr("echopilot.health.process_started_at", lambda: timezone.now() - LONG_AGO)


def stalled_queue():
    now = timezone.now()
    make_schedule("heartbeat", next_run=now - timedelta(hours=1))
    make_heartbeat(node="node-q1", created_at=now - timedelta(hours=1))


def test_readyz_names_a_stalled_task_queue_and_reveals_no_node(client, long_running):
    stalled_queue()
    task_queue_event_record(node="secret-host-q1", event="stalled", reason="holds tasks", stalled_since=timezone.now())
    response = client.get("/readyz")
    assert response.status_code == 503
    failed = response.json()["failed"]
    assert set(failed) == {"tasks"}
    assert failed["tasks"].startswith("stalled since ")
    assert "qcluster stalled (watchdog); heartbeat overdue; schedule heartbeat overdue" in failed["tasks"]
    assert "secret-host" not in response.content.decode()


def test_readyz_leaves_out_what_is_excluded(client, long_running):
    stalled_queue()
    assert client.get("/readyz").status_code == 503
    assert client.get("/readyz?exclude=tasks").json() == {"ok": True}
    assert client.get("/readyz?exclude=cache,tasks").status_code == 200
    assert client.get("/readyz?exclude=cache&exclude=tasks&exclude=").status_code == 200


def test_readyz_of_a_web_process_that_just_started_waits_for_its_grace(client, monkeypatch):
    monkeypatch.setattr("echopilot.health.process_started_at", lambda: timezone.now() - timedelta(seconds=5))
    stalled_queue()
    assert client.get("/readyz").json() == {"ok": True}


@pytest.mark.parametrize("value", ["task", "tasks,nope", "\x00", "x" * 5000])
def test_readyz_refuses_an_unknown_exclusion_without_echoing_it(client, value):
    response = client.get("/readyz", {"exclude": value})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_error" and set(body["fields"]) == {"exclude"}
    assert "known: database, migrations, cache, tasks" in body["message"]
    assert json.dumps(body).count("nope") == 0
