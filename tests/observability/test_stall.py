"""The task queue's stall alert (observability/stall.py): delivered at once by its caller, not by the stalled queue."""

from datetime import timedelta

import pytest
from django.utils import timezone

from echopilot.signals import task_queue_stall_changed
from echopilot.supervisor import Supervisor
from echopilot.timefmt import moment_format
from notifications.models import Email, Kind, Status, TelegramMessage
from notifications.services import email_deliver, telegram_sweep
from observability.models import Silence
from observability.stall import task_queue_alert
from tests.constants import CHAT_ID

pytestmark = pytest.mark.django_db


@pytest.fixture
def stalled_queue(monkeypatch):
    """The broker takes tasks and nothing ever runs them: the enqueued deliveries are only recorded."""
    enqueued = []
    monkeypatch.setattr("notifications.services.async_task", lambda *args, **kwargs: enqueued.append(args))
    return enqueued


@pytest.fixture
def channels(settings, smtp_server, telegram_api):
    settings.ALERT_EMAIL_TO = ["ops@example.com"]
    return smtp_server, telegram_api


def test_a_stall_is_delivered_by_email_and_telegram_without_the_queue(channels, stalled_queue, on_commit, read_audit):
    smtp, telegram = channels
    since = timezone.now() - timedelta(minutes=4)
    with on_commit(execute=True):
        notified = task_queue_alert(event="stalled", node="shop-q1", since=since, reason="holds tasks")
    assert [m["message"]["Subject"] for m in smtp.messages] == ["EchoPilot: task queue stalled on shop-q1"]
    [request] = telegram.requests
    assert request["body"]["chat_id"] == CHAT_ID
    assert "task queue stalled on shop-q1" in request["body"]["text"]
    assert (
        f"[FIRING] critical task_queue_stalled/shop-q1 since {moment_format(since)}: holds tasks"
        in (request["body"]["text"])
    )
    notified.email.refresh_from_db()
    assert notified.email.status == Status.SENT and notified.email.kind == Kind.ALERT
    assert list(TelegramMessage.objects.values_list("status", flat=True)) == [Status.SENT]
    assert stalled_queue  # the usual deliveries were enqueued too ...
    assert email_deliver(email_id=notified.email.pk) == {}  # ... and, run once the queue is back, send nothing twice
    assert telegram_sweep() == {}
    assert len(smtp.messages) == 1 and len(telegram.requests) == 1
    [line] = read_audit("production_alerts")
    assert (line["event"], line["rule"], line["fingerprint"], line["silenced"]) == (
        "alert_firing",
        "task_queue_stalled",
        "shop-q1",
        False,
    )


def test_a_recovery_is_announced_as_resolved(channels, stalled_queue, on_commit):
    smtp, telegram = channels
    with on_commit(execute=True):
        task_queue_alert(event="recovered", node="shop-q1", since=timezone.now(), reason="finishes tasks again")
    assert [m["message"]["Subject"] for m in smtp.messages] == ["EchoPilot: task queue on shop-q1 recovered"]
    assert "[RESOLVED] task_queue_stalled/shop-q1" in telegram.requests[0]["body"]["text"]


def test_a_failed_delivery_stays_queued_for_the_sweeps(settings, stalled_queue, smtp_server):
    settings.ALERT_EMAIL_TO = ["ops@example.com"]
    smtp_server.stop()  # the SMTP server is down too
    notified = task_queue_alert(event="stalled", node="shop-q1", since=timezone.now(), reason="holds tasks")
    notified.email.refresh_from_db()
    assert notified.email.status == Status.QUEUED and notified.email.attempts == 1
    assert notified.email.last_error


def test_a_silence_stops_the_messages_not_the_record(channels, stalled_queue, on_commit, read_audit):
    smtp, telegram = channels
    Silence.objects.create(rule="task_queue_stalled", until=timezone.now() + timedelta(hours=1), reason="maintenance")
    with on_commit(execute=True):
        assert task_queue_alert(event="stalled", node="shop-q1", since=timezone.now(), reason="r") is None
    assert smtp.messages == [] and telegram.requests == []
    assert not Email.objects.exists() and not TelegramMessage.objects.exists()
    assert read_audit("production_alerts")[0]["silenced"] is True


def test_an_unknown_event_is_refused():
    with pytest.raises(ValueError, match="unknown task queue event"):
        task_queue_alert(event="exploded", node="n", since=timezone.now(), reason="r")


def test_the_watchdogs_signal_reaches_the_alert(channels, stalled_queue, on_commit):
    """The platform's watchdog only sends ``task_queue_stall_changed``; observability's receiver alerts."""
    smtp, _ = channels
    since = timezone.now() - timedelta(minutes=4)
    with on_commit(execute=True):
        task_queue_stall_changed.send(sender=Supervisor, event="stalled", node="shop-q1", since=since, reason="r")
    assert [m["message"]["Subject"] for m in smtp.messages] == ["EchoPilot: task queue stalled on shop-q1"]
