"""The task queue's health on the dashboard (a "stalled since" banner) and in /metrics (gauges Prometheus alerts on)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from echopilot.audit import utc_iso
from echopilot.models import Heartbeat
from echopilot.taskqueue import task_queue_event_record
from tests.factories import make_heartbeat, make_schedule

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def long_running(monkeypatch):
    """The web process started long ago: its grace period is over."""
    started = timezone.now() - timedelta(days=1)
    monkeypatch.setattr("observability.dashboard.process_started_at", lambda: started)
    monkeypatch.setattr("observability.metrics.process_started_at", lambda: started)


@pytest.fixture
def staff_client(staff_login):
    return staff_login("observability.view_dashboard")


def heartbeat_schedule(*, last_beat_ago: timedelta) -> Heartbeat:
    make_schedule("heartbeat", next_run=timezone.now() + timedelta(seconds=30))
    return make_heartbeat(node="shop-q1", created_at=timezone.now() - last_beat_ago)


def samples(client) -> dict:
    text = client.get("/metrics", HTTP_X_DASH_KEY="test-dash-key-1").content.decode()
    return {sample.name: sample.value for family in text_string_to_metric_families(text) for sample in family.samples}


def test_the_dashboard_says_since_when_the_task_queue_is_stalled(staff_client):
    last = heartbeat_schedule(last_beat_ago=timedelta(hours=2)).created_at
    html = staff_client.get("/dashboard/").content.decode()
    assert 'id="task-queue-stalled"' in html
    assert f"Task queue stalled since {utc_iso(last)} (heartbeat overdue)" in html


def test_the_dashboard_shows_a_stall_the_watchdog_recorded(staff_client):
    heartbeat_schedule(last_beat_ago=timedelta(seconds=50))
    task_queue_event_record(node="shop-q1", event="stalled", reason="r", stalled_since=timezone.now())
    assert "qcluster stalled (watchdog)" in staff_client.get("/dashboard/").content.decode()


def test_a_working_task_queue_has_no_banner(staff_client):
    heartbeat_schedule(last_beat_ago=timedelta(seconds=50))
    assert "task-queue-stalled" not in staff_client.get("/dashboard/").content.decode()


def test_metrics_carry_the_heartbeat_and_queue_ages_and_the_stall(client, settings):
    settings.TASKS_STALL_SECONDS = 150
    heartbeat_schedule(last_beat_ago=timedelta(seconds=50))
    make_schedule("late", func="x.y", minutes=5, next_run=timezone.now() - timedelta(seconds=100))
    found = samples(client)
    assert 50 <= found["echopilot_task_heartbeat_age_seconds"] < 60
    assert 100 <= found["echopilot_task_schedule_late_seconds"] < 110
    assert found["echopilot_task_queue_oldest_age_seconds"] == 0
    assert found["echopilot_task_queue_stalled"] == 0
    Heartbeat.objects.update(created_at=timezone.now() - timedelta(hours=1))
    found = samples(client)
    assert found["echopilot_task_queue_stalled"] == 1
    assert found["echopilot_task_heartbeat_age_seconds"] >= 3600


def test_without_a_heartbeat_its_age_is_absent_rather_than_wrong(client):
    found = samples(client)
    assert "echopilot_task_heartbeat_age_seconds" not in found
    assert found["echopilot_task_queue_stalled"] == 0
