"""Telegram messages through a local stand-in for the Bot API."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications import services
from notifications.models import Status, TelegramMessage
from notifications.services import telegram_send, telegram_sweep
from tests.constants import BOT_TOKEN, CHAT_ID

pytestmark = pytest.mark.django_db

CHAT_NOT_FOUND = (400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
TOO_MANY = (
    429,
    {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    },
)


def make_due():
    TelegramMessage.objects.update(next_attempt_at=timezone.now())


def test_it_sends_html_with_every_inserted_value_escaped(telegram_api):
    [message] = telegram_send(kind="alert", subject="Refunds <high>", text="5 refunds & 2 disputes <script>")
    assert telegram_sweep() == {"sent": 1}
    [request] = telegram_api.requests
    assert request["path"] == f"/bot{BOT_TOKEN}/sendMessage"
    assert request["body"] == {
        "chat_id": CHAT_ID,
        "text": "<b>Refunds &lt;high&gt;</b>\n5 refunds &amp; 2 disputes &lt;script&gt;",
        "parse_mode": "HTML",
        "disable_web_page_preview": True,
    }
    message.refresh_from_db()
    assert (message.status, message.attempts, message.telegram_message_id) == (Status.SENT, 1, 1)
    assert message.public_id.startswith("tg_")


def test_a_long_text_is_sent_as_several_messages_in_order(telegram_api):
    lines = [f"{i:04d} " + "x" * 95 for i in range(100)]  # 10,000 characters
    messages = telegram_send(kind="report", subject="Daily", text="\n".join(lines))
    assert len(messages) == 3
    assert telegram_sweep() == {"sent": 3}
    texts = [request["body"]["text"] for request in telegram_api.requests]
    assert all(len(text) <= 4096 for text in texts)
    assert "\n".join(texts) == "<b>Daily</b>\n" + "\n".join(lines)


class FakeClock:
    """Stands in for the ``time`` module of notifications.services: records each sleep and moves on by it."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_messages_to_one_chat_are_spaced_about_a_second_apart(telegram_api, settings, monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(services, "time", clock)
    settings.TELEGRAM_CHAT_INTERVAL_SECONDS = 1
    for text in "123":
        telegram_send(kind="alert", subject="s", text=text)
    assert telegram_sweep() == {"sent": 3}
    assert [r["body"]["text"][-1] for r in telegram_api.requests] == ["1", "2", "3"]
    assert clock.sleeps == [pytest.approx(1), pytest.approx(1)]  # none before the first, one interval before each next


def test_a_429_waits_for_retry_after_and_keeps_the_order(telegram_api):
    telegram_api.answers = [TOO_MANY]
    first, second = telegram_send(kind="alert", subject="s", text="a" * 4000 + "\n" + "b" * 4000)
    started = timezone.now()
    assert telegram_sweep() == {"retry": 1}
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Status.QUEUED and "429" in first.last_error
    assert started + timedelta(seconds=7) <= first.next_attempt_at <= timezone.now() + timedelta(seconds=7)
    assert second.next_attempt_at == first.next_attempt_at  # the whole chat waits
    assert len(telegram_api.requests) == 1
    make_due()
    assert telegram_sweep() == {"sent": 2}
    assert [r["body"]["text"][-1] for r in telegram_api.requests] == ["a", "a", "b"]


def test_chat_not_found_fails_at_once(telegram_api, read_audit, django_capture_on_commit_callbacks):
    telegram_api.answers = [CHAT_NOT_FOUND]
    [message] = telegram_send(kind="alert", subject="s", text="t")
    with django_capture_on_commit_callbacks(execute=True):
        assert telegram_sweep() == {"failed": 1}
    message.refresh_from_db()
    assert (message.status, message.error_type) == (Status.FAILED, "permanent")
    assert message.last_error == "HTTP 400: Bad Request: chat not found"
    assert read_audit("telegram")[-1]["event"] == "failed"
    make_due()
    assert telegram_sweep() == {}


def test_a_server_error_retries_with_backoff(telegram_api):
    telegram_api.answers = [(500, {"ok": False, "error_code": 500, "description": "Internal Server Error"})]
    [message] = telegram_send(kind="alert", subject="s", text="t")
    assert telegram_sweep() == {"retry": 1}
    message.refresh_from_db()
    assert (message.status, message.error_type) == (Status.QUEUED, "transient")
    make_due()
    assert telegram_sweep() == {"sent": 1}


def test_an_unreachable_api_retries_and_the_token_never_shows(settings, read_audit, django_capture_on_commit_callbacks):
    settings.TELEGRAM_BOT_TOKEN = BOT_TOKEN
    settings.TELEGRAM_CHAT_ID = CHAT_ID
    settings.TELEGRAM_API_URL = "http://127.0.0.1:9"  # discard port: nothing listens
    [message] = telegram_send(kind="alert", subject="s", text="t")
    with django_capture_on_commit_callbacks(execute=True):
        assert telegram_sweep() == {"retry": 1}
    message.refresh_from_db()
    assert "refused" in message.last_error.lower()
    assert BOT_TOKEN not in message.last_error
    assert BOT_TOKEN not in str(read_audit("telegram"))


def test_a_bad_token_fails_and_is_scrubbed_from_the_error(telegram_api):
    telegram_api.answers = [(401, {"ok": False, "error_code": 401, "description": f"Unauthorized {BOT_TOKEN}"})]
    [message] = telegram_send(kind="alert", subject="s", text="t")
    assert telegram_sweep() == {"failed": 1}
    message.refresh_from_db()
    assert message.last_error == "HTTP 401: Unauthorized ***"


def test_without_configuration_messages_are_dry_runs(settings, read_audit, django_capture_on_commit_callbacks):
    settings.TELEGRAM_BOT_TOKEN = ""
    with django_capture_on_commit_callbacks(execute=True):
        [message] = telegram_send(kind="alert", subject="s", text="t")
    assert message.status == Status.DRY_RUN
    assert telegram_sweep() == {}
    assert read_audit("telegram")[0]["event"] == "dry_run"


def test_buttons_go_under_the_last_part_as_an_inline_keyboard(telegram_api, settings):
    settings.TELEGRAM_CHAT_INTERVAL_SECONDS = 0
    buttons = [[["Acknowledge", "ack:al_1"], ["Silence 1 h", "silence_1h:al_1"]]]
    messages = telegram_send(kind="alert", subject="Long", text="x" * 5000, buttons=buttons)
    assert len(messages) > 1
    assert [message.buttons for message in messages] == [[]] * (len(messages) - 1) + [buttons]
    assert telegram_sweep() == {"sent": len(messages)}
    *first, last = (request["body"] for request in telegram_api.requests)
    assert not any("reply_markup" in body for body in first)
    assert last["reply_markup"] == {
        "inline_keyboard": [
            [
                {"text": "Acknowledge", "callback_data": "ack:al_1"},
                {"text": "Silence 1 h", "callback_data": "silence_1h:al_1"},
            ]
        ]
    }
