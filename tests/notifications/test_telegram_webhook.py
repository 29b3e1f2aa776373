"""POST /api/telegram/webhook: presses of our inline buttons, through the local stand-in for the Bot API."""

import json

import pytest

from notifications.buttons import NOTICE_FAILED, NOTICE_NOT_ALLOWED, NOTICE_NOTHING, SECRET_HEADER
from notifications.models import Suppression, TelegramMessage, TelegramUpdate
from notifications.services import telegram_send, telegram_sweep
from notifications.signals import ButtonAnswer, telegram_button
from tests.constants import CHAT_ID, TELEGRAM_SECRET, TELEGRAM_USER

pytestmark = pytest.mark.django_db

URL = "/api/telegram/webhook"
BUTTONS = [[["Acknowledge", "ack:al_1"], ["Silence 1 h", "silence_1h:al_1"]], [["Boom", "boom:al_1"]]]
ACKED_BUTTONS = [[["Silence 1 h", "silence_1h:al_1"]]]


@pytest.fixture
def presses(button_receivers_aside):
    """A receiver of telegram_button like the alerts' one (set aside): ack answers and edits, boom raises, others
    pass."""
    calls = []

    def receiver(sender, *, action, target, by, message, now, **kwargs):
        calls.append({"action": action, "target": target, "by": by, "message": message, "now": now})
        if action == "ack" and message is not None:
            return ButtonAnswer(notice="Acknowledged.", text=message.text + "\nAcknowledged", buttons=ACKED_BUTTONS)
        if action == "boom":
            Suppression.objects.create(address="written@example.com", reason="bounced")
            raise RuntimeError("the receiver broke")
        return None

    telegram_button.connect(receiver, dispatch_uid="test-presses")
    yield calls
    telegram_button.disconnect(dispatch_uid="test-presses")


@pytest.fixture
def sent(telegram_webhook):
    """An alert with our buttons, delivered through the sweep (the stand-in gives it message id 1)."""
    [message] = telegram_send(kind="alert", subject="Refunds high", text="5 refunds", buttons=BUTTONS)
    assert telegram_sweep() == {"sent": 1}
    message.refresh_from_db()
    assert message.telegram_message_id == 1
    return message


def update(update_id=1, *, data="ack:al_1", chat=int(CHAT_ID), user=TELEGRAM_USER, message_id=1):
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"query-{update_id}",
            "from": {"id": user, "is_bot": False, "first_name": "Ada"},
            "message": {"message_id": message_id, "chat": {"id": chat, "type": "supergroup"}, "text": "…"},
            "chat_instance": "-5",
            "data": data,
        },
    }


def post(client, body, *, secret=TELEGRAM_SECRET):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    return client.post(URL, data=data, content_type="application/json", headers=headers)


def test_a_press_reaches_the_receiver_is_answered_and_edits_the_message(
    client, sent, presses, read_audit, telegram_webhook, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, update(7))
    assert (response.status_code, response.json()) == (
        200,
        {"ok": True, "update_id": 7, "outcome": "acted"},
    )
    [call] = presses
    assert (call["action"], call["target"], call["by"], call["message"]) == (
        "ack",
        "al_1",
        f"telegram:{TELEGRAM_USER}",
        sent,
    )
    assert call["now"].tzinfo is not None
    assert telegram_webhook.calls("answerCallbackQuery") == [{"callback_query_id": "query-7", "text": "Acknowledged."}]
    [edit] = telegram_webhook.calls("editMessageText")
    assert edit == {
        "chat_id": CHAT_ID,
        "message_id": 1,
        "text": "<b>Refunds high</b>\n5 refunds\nAcknowledged",
        "parse_mode": "HTML",
        "disable_web_page_preview": True,
        "reply_markup": {"inline_keyboard": [[{"text": "Silence 1 h", "callback_data": "silence_1h:al_1"}]]},
    }
    sent.refresh_from_db()
    assert (sent.text, sent.buttons, sent.revision, sent.edit_due, sent.edit_error) == (
        "<b>Refunds high</b>\n5 refunds\nAcknowledged",
        ACKED_BUTTONS,
        1,
        False,
        "",
    )
    assert sent.edited_at is not None
    row = TelegramUpdate.objects.get()
    assert (row.update_id, row.outcome, row.action, row.target, row.by, row.message, row.notice) == (
        7,
        "acted",
        "ack",
        "al_1",
        f"telegram:{TELEGRAM_USER}",
        sent,
        "Acknowledged.",
    )
    assert row.answered_at is not None and row.answer_error == ""
    events = [line["event"] for line in read_audit("telegram")]
    assert events[-2:] == ["update", "edited"]


def test_a_replayed_update_is_acted_on_once_and_answered_200(
    client, sent, presses, read_audit, telegram_webhook, django_capture_on_commit_callbacks
):
    assert post(client, update(7)).json()["outcome"] == "acted"
    with django_capture_on_commit_callbacks(execute=True):
        again = post(client, update(7, data="silence_1h:al_1"))
    assert (again.status_code, again.json()["outcome"]) == (200, "replayed")
    assert len(presses) == 1
    assert len(telegram_webhook.calls("answerCallbackQuery")) == 1
    assert TelegramUpdate.objects.count() == 1
    assert read_audit("telegram")[-1] == {**read_audit("telegram")[-1], "event": "update_replayed", "update_id": 7}


@pytest.mark.parametrize(
    ("secret", "status", "code"),
    [
        (None, 401, "not_authenticated"),
        ("", 401, "not_authenticated"),
        ("test-webhook-secret_2", 401, "not_authenticated"),
        ("test-webhook-secret_1x", 401, "not_authenticated"),
        ("tést-webhook-secret_1", 401, "not_authenticated"),
    ],
)
def test_a_wrong_or_missing_secret_is_refused_and_nothing_is_recorded(
    client, sent, presses, read_audit, secret, status, code, telegram_webhook, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, update(7), secret=secret)
    assert (response.status_code, response.json()["error"]) == (status, code)
    assert presses == [] and TelegramUpdate.objects.count() == 0
    assert telegram_webhook.calls("answerCallbackQuery") == []
    assert read_audit("telegram")[-1]["event"] == "update_refused"
    assert TELEGRAM_SECRET not in json.dumps(read_audit("telegram"))


def test_without_a_configured_secret_every_call_is_refused(client, sent, presses, settings):
    settings.TELEGRAM_WEBHOOK_SECRET = ""
    for secret in ("", TELEGRAM_SECRET, None):
        response = post(client, update(7), secret=secret)
        assert (response.status_code, response.json()["error"]) == (403, "webhook_not_configured")
    assert presses == [] and TelegramUpdate.objects.count() == 0


def test_the_webhook_needs_no_dash_key(client, sent, presses):
    assert post(client, update(7)).status_code == 200  # the client sends no X-Dash-Key


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("{not json", "not JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        ("[1, 2]", "not an object"),
        ('{"update_id": NaN}', "NaN"),
        ('{"update_id": "7"}', "update_id a string"),
        ('{"update_id": true}', "update_id a bool"),
        ('{"update_id": -1}', "negative update_id"),
        ('{"update_id": 1e3}', "a float"),
        ('{"update_id": 100000000000000000000000000000}', "update_id too large for a column"),
        ('{"callback_query": {}}', "no update_id"),
        ('{"update_id": 1, "x": ' + "[" * 5000 + "]" * 5000 + "}", "nested deeply"),
    ],
)
def test_a_body_that_is_not_an_update_is_a_400_and_nothing_is_recorded(client, sent, presses, body, why):
    response = post(client, body)
    assert (response.status_code, response.json()["error"]) == (400, "malformed_request"), why
    assert presses == [] and TelegramUpdate.objects.count() == 0


def test_a_huge_body_is_refused_413(client, sent, presses):
    response = post(client, json.dumps({"update_id": 1, "pad": "x" * (1024 * 1024)}))
    assert response.status_code == 413
    assert presses == [] and TelegramUpdate.objects.count() == 0


@pytest.mark.parametrize(
    ("changes", "reason", "notice"),
    [
        ({"chat": -100999}, "chat_not_allowed", NOTICE_NOT_ALLOWED),
        ({"chat": 10**30}, "chat_not_allowed", NOTICE_NOT_ALLOWED),
        ({"user": 22222222}, "user_not_allowed", NOTICE_NOT_ALLOWED),
        ({"user": -(10**40)}, "user_not_allowed", NOTICE_NOT_ALLOWED),
        ({"data": "rm -rf"}, "not_our_button", NOTICE_NOTHING),
        ({"data": "ACK:al_1"}, "not_our_button", NOTICE_NOTHING),
        ({"data": "ack:al_2"}, "not_our_button", NOTICE_NOTHING),  # well formed, but not a button of this message
        ({"data": "ack:al_1\x00"}, "not_our_button", NOTICE_NOTHING),
        ({"data": "ack:al_1\n"}, "not_our_button", NOTICE_NOTHING),
        ({"data": "ack:\ud800"}, "not_our_button", NOTICE_NOTHING),
        ({"data": "ack:" + "a" * 200}, "not_our_button", NOTICE_NOTHING),
        ({"data": ""}, "not_our_button", NOTICE_NOTHING),
    ],
)
def test_a_press_from_elsewhere_or_on_a_button_not_ours_is_refused_with_200(
    client, sent, presses, changes, reason, notice, telegram_webhook
):
    response = post(client, update(7, **changes))
    assert (response.status_code, response.json()["outcome"], response.json()["reason"]) == (200, "refused", reason)
    assert presses == []
    row = TelegramUpdate.objects.get()
    assert (row.outcome, row.reason, row.by, row.notice) == ("refused", reason, "", notice)
    assert "\x00" not in row.callback_data and len(row.callback_data) <= 64
    assert telegram_webhook.calls("answerCallbackQuery") == [{"callback_query_id": "query-7", "text": notice}]
    sent.refresh_from_db()
    assert (sent.revision, sent.buttons) == (0, BUTTONS)


def test_nobody_may_press_while_no_user_is_allowed(client, sent, presses, settings):
    settings.TELEGRAM_ALLOWED_USER_IDS = []
    assert post(client, update(7)).json()["reason"] == "user_not_allowed"
    assert presses == []


def test_another_allowed_chat_may_press(client, sent, presses, settings):
    settings.TELEGRAM_ALLOWED_CHAT_IDS = ["-100555"]
    response = post(client, update(7, chat=-100555))
    assert response.json()["outcome"] == "ignored"  # allowed, but we have no such message there: nobody acts
    assert [call["message"] for call in presses] == [None]


def test_an_update_that_is_not_a_press_is_recorded_and_refused(client, sent, presses, telegram_webhook):
    response = post(client, {"update_id": 9, "message": {"message_id": 5, "text": "hi"}})
    assert response.json() == {"ok": True, "update_id": 9, "outcome": "refused", "reason": "not_a_button_press"}
    assert TelegramUpdate.objects.get().kind == "message"
    assert presses == [] and telegram_webhook.calls("answerCallbackQuery") == []


def test_a_press_nobody_handles_is_told_the_button_does_nothing(client, sent, presses, telegram_webhook):
    assert post(client, update(7, data="silence_1h:al_1")).json()["outcome"] == "ignored"
    assert [call["action"] for call in presses] == ["silence_1h"]
    assert telegram_webhook.calls("answerCallbackQuery") == [{"callback_query_id": "query-7", "text": NOTICE_NOTHING}]
    assert telegram_webhook.calls("editMessageText") == []


def test_a_receiver_that_raises_keeps_nothing_it_wrote_and_the_press_is_failed(client, sent, presses, telegram_webhook):
    response = post(client, update(7, data="boom:al_1"))
    assert (response.status_code, response.json()["outcome"]) == (200, "failed")
    assert not Suppression.objects.exists()
    row = TelegramUpdate.objects.get()
    assert (row.outcome, row.reason, row.notice) == ("failed", "RuntimeError: the receiver broke", NOTICE_FAILED)
    assert telegram_webhook.calls("editMessageText") == []


def test_a_failed_edit_stays_due_and_the_sweep_sends_it_again(client, sent, presses, telegram_webhook):
    telegram_webhook.answers = [
        (200, {"ok": True, "result": True}),
        (502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}),
    ]
    assert post(client, update(7)).json()["outcome"] == "acted"
    sent.refresh_from_db()
    assert (sent.edit_due, sent.edit_attempts, sent.edit_error) == (True, 1, "HTTP 502: Bad Gateway")
    assert sent.text.endswith("Acknowledged")  # what the press did is kept; only Telegram is behind
    assert telegram_sweep() == {"edited": 1}
    sent.refresh_from_db()
    assert (sent.edit_due, sent.edit_attempts, sent.edit_error) == (False, 2, "")
    assert len(telegram_webhook.calls("editMessageText")) == 2
    assert telegram_sweep() == {}


def test_an_edit_telegram_refuses_for_good_ends_with_its_error(client, sent, presses, telegram_webhook):
    gone = (400, {"ok": False, "error_code": 400, "description": "Bad Request: message to edit not found"})
    telegram_webhook.answers = [(200, {"ok": True, "result": True}), gone]
    post(client, update(7))
    sent.refresh_from_db()
    assert (sent.edit_due, sent.edit_error) == (False, "HTTP 400: Bad Request: message to edit not found")
    assert telegram_sweep() == {}


def test_an_edit_that_changes_nothing_counts_as_done(client, sent, presses, telegram_webhook):
    same = (400, {"ok": False, "error_code": 400, "description": "Bad Request: message is not modified"})
    telegram_webhook.answers = [(200, {"ok": True, "result": True}), same]
    post(client, update(7))
    sent.refresh_from_db()
    assert (sent.edit_due, sent.edit_error) == (False, "")


def test_a_failed_notice_is_recorded_and_the_press_still_counts(client, sent, presses, telegram_webhook):
    telegram_webhook.answers = [(400, {"ok": False, "description": "Bad Request: query is too old"})]
    assert post(client, update(7)).json()["outcome"] == "acted"
    row = TelegramUpdate.objects.get()
    assert (row.answered_at, row.answer_error) == (None, "HTTP 400: Bad Request: query is too old")
    sent.refresh_from_db()
    assert sent.edit_due is False and sent.revision == 1


def test_telegram_unreachable_loses_no_press(client, sent, presses, settings):
    settings.TELEGRAM_API_URL = "http://127.0.0.1:9"  # nothing listens there
    assert post(client, update(7)).json()["outcome"] == "acted"
    row = TelegramUpdate.objects.get()
    assert row.answer_error.startswith("URLError") and row.answered_at is None
    sent.refresh_from_db()
    assert sent.edit_due is True and "123456" not in sent.edit_error  # the bot token is scrubbed


def test_the_webhook_is_in_the_api_schema(admin_client):
    schema = admin_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/telegram/webhook"]["post"]
    assert operation["operationId"] == "telegram_webhook"
    assert [p["name"] for p in operation["parameters"]] == [SECRET_HEADER]


def test_updates_and_edits_show_in_the_admin(admin_client, client, sent, presses):
    post(client, update(7))
    row = TelegramUpdate.objects.get()
    page = admin_client.get(f"/admin/notifications/telegramupdate/{row.pk}/change/")
    assert page.status_code == 200 and b"telegram:11111111" in page.content
    assert admin_client.get("/admin/notifications/telegramupdate/").status_code == 200
    message = admin_client.get(f"/admin/notifications/telegrammessage/{TelegramMessage.objects.get().pk}/change/")
    assert message.status_code == 200 and b"Last edited in Telegram" in message.content
