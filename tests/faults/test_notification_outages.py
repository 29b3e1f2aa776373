"""Outages of the outside world: a real SMTP server down across several sweeps, a Telegram API answering 500 and 429."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import Email, Status, TelegramMessage
from notifications.services import email_send, email_sweep, telegram_send, telegram_sweep

pytestmark = pytest.mark.django_db


def time_passes(model) -> None:
    """Every queued row is due now, as if its retry delay had passed."""
    model.objects.filter(status=Status.QUEUED).update(next_attempt_at=timezone.now())


@pytest.mark.slow
def test_emails_queued_while_smtp_is_down_are_all_delivered_exactly_once_when_it_returns(
    smtp_server, read_audit, django_capture_on_commit_callbacks
):
    smtp_server.stop()
    with django_capture_on_commit_callbacks(
        execute=True
    ):  # each send tries at once (the task queue runs in the test) and fails
        emails = [email_send(to=[f"c{n}@example.com"], subject=f"n{n}", body="b")[0] for n in range(20)]
    for _ in range(3):  # three sweeps while the server is still down
        time_passes(Email)
        with django_capture_on_commit_callbacks(execute=True):
            assert email_sweep() == {"retry": 1}
    assert set(Email.objects.values_list("status", flat=True)) == {Status.QUEUED}

    smtp_server.start()
    time_passes(Email)
    with django_capture_on_commit_callbacks(execute=True):
        assert email_sweep() == {"sent": 20}
    time_passes(Email)
    assert email_sweep() == {}

    assert sorted(m["message"]["Message-ID"] for m in smtp_server.messages) == sorted(e.message_id for e in emails)
    assert set(Email.objects.values_list("status", flat=True)) == {Status.SENT}
    sent = [line["id"] for line in read_audit("emails") if line["event"] == "sent"]
    assert sorted(sent) == sorted(e.public_id for e in emails)


def test_a_telegram_500_then_429_is_retried_after_retry_after_and_delivered_once(telegram_api):
    telegram_api.answers = [
        (500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}),
        (429, {"ok": False, "error_code": 429, "description": "Too Many Requests", "parameters": {"retry_after": 60}}),
    ]
    [message] = telegram_send(kind="alert", subject="disk", text="almost full")
    assert telegram_sweep() == {"retry": 1}  # 500
    time_passes(TelegramMessage)
    before = timezone.now()
    assert telegram_sweep() == {"retry": 1}  # 429
    after = timezone.now()
    message.refresh_from_db()
    retry_after = timedelta(seconds=60)
    assert before + retry_after <= message.next_attempt_at <= after + retry_after
    assert telegram_sweep() == {}  # retry_after is respected
    time_passes(TelegramMessage)
    assert telegram_sweep() == {"sent": 1}
    assert telegram_sweep() == {}

    message.refresh_from_db()
    assert (message.status, message.attempts, message.telegram_message_id) == (Status.SENT, 3, 3)
    assert [r["body"]["text"] for r in telegram_api.requests] == [telegram_api.requests[0]["body"]["text"]] * 3
