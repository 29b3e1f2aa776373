"""EMAIL_RATE_PER_SECOND and EMAIL_RATE_PER_MINUTE: bursts to the real SMTP stand-in, on a fake clock.

The clock moves only when a deliverer sleeps for the next window, and the stand-in notes the clock's time when
each message arrives, so the per-second counts are exact and the test takes no real waiting.
"""

import threading
from collections import Counter

import pytest
from django.db import connection

from notifications import sendrate
from notifications.models import Email, Status
from notifications.services import email_deliver_due

START = 1_800_000_000.0  # a whole minute


class FakeClock:
    def __init__(self, start: float = START):
        self.now = start
        self.lock = threading.Lock()
        self.sleeps = 0

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds
            self.sleeps += 1


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(sendrate, "clock", fake)
    monkeypatch.setattr(sendrate, "sleep", fake.sleep)
    return fake


@pytest.fixture
def arrivals(smtp_server, clock, caplog):
    """The fake clock's time of each message the stand-in accepts."""
    caplog.set_level("WARNING", logger="mail.log")  # aiosmtpd's line per SMTP command, 5000 of them
    times = []
    handle_data = smtp_server.handler.handle_DATA

    async def noted(server, session, envelope):
        times.append(clock())
        return await handle_data(server, session, envelope)

    smtp_server.handler.handle_DATA = noted
    return times


def queue(count: int) -> None:
    """``count`` queued emails, due now, as if their enqueues had been lost."""
    Email.objects.bulk_create(
        Email(to=[f"c{n}@example.com"], subject="Burst", body="Text.", message_id=f"<burst-{n}@echopilot.ai>")
        for n in range(count)
    )


@pytest.mark.django_db
def test_a_burst_of_1000_never_exceeds_the_limits_and_nothing_fails(settings, arrivals, clock):
    settings.EMAIL_RATE_PER_SECOND = 50
    settings.EMAIL_RATE_PER_MINUTE = 600
    queue(1000)
    passes = Counter()
    for _ in range(20):  # the sweep's passes, one after another
        passes += email_deliver_due(limit=200)
        if not Email.objects.filter(status=Status.QUEUED).exists():
            break
    assert passes["sent"] == 1000 and clock.sleeps > 0
    assert len(arrivals) == 1000
    per_second = Counter(int(moment) for moment in arrivals)
    per_minute = Counter(int(moment) // 60 for moment in arrivals)
    assert max(per_second.values()) == 50
    assert max(per_minute.values()) == 600
    # An email that waited was not failed and its wait was not an attempt.
    assert set(Email.objects.values_list("status", "attempts")) == {(Status.SENT, 1)}
    assert clock.now - START < 120  # it waited only as long as the limits ask: 600 in minute one, 400 in minute two


@pytest.mark.django_db
def test_without_limits_nothing_waits(settings, arrivals, clock):
    settings.EMAIL_RATE_PER_SECOND = settings.EMAIL_RATE_PER_MINUTE = 0
    queue(30)
    assert email_deliver_due() == {"sent": 30}
    assert clock.sleeps == 0 and len(arrivals) == 30


@pytest.mark.django_db
def test_an_email_over_the_limit_waits_in_the_queue_uncounted(settings, arrivals, clock, monkeypatch, read_audit):
    settings.EMAIL_RATE_PER_SECOND = 3
    monkeypatch.setattr(sendrate, "pass_deadline", lambda: clock())  # this pass may not wait at all
    queue(5)
    assert email_deliver_due() == {"sent": 3, "waiting": 1}
    waiting = Email.objects.exclude(status=Status.SENT)
    assert set(waiting.values_list("status", "attempts", "claimed_at")) == {(Status.QUEUED, 0, None)}
    assert len(arrivals) == 3


@pytest.mark.django_db(transaction=True)
def test_two_workers_share_one_budget(settings, arrivals, clock, monkeypatch):
    """Two deliverers at once, each with its own database connection, on a clock that stands still."""
    settings.EMAIL_RATE_PER_SECOND = 7
    monkeypatch.setattr(sendrate, "pass_deadline", lambda: clock())
    queue(60)
    barrier = threading.Barrier(2)
    outcomes = []

    def deliver():
        try:
            barrier.wait()
            outcomes.append(email_deliver_due(limit=60))
        finally:
            connection.close()

    workers = [threading.Thread(target=deliver) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(arrivals) == 7
    assert sum(outcome["sent"] for outcome in outcomes) == 7
    assert Email.objects.filter(status=Status.QUEUED, attempts=0).count() == 53
