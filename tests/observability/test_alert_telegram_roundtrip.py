"""Issue #16: the Telegram button round trip end to end, with nothing stood in but Telegram itself.

A rule fires; its alert goes out through the Telegram sweep with its buttons; the on-call person's press arrives
at POST /api/telegram/webhook as Telegram would post it; observability acknowledges the alert; Telegram is answered
and the message edited; and the reminders stop.
"""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.buttons import SECRET_HEADER
from notifications.models import Kind, TelegramMessage
from notifications.services import telegram_sweep
from observability.alerts import alerts_evaluate
from observability.models import Alert, AlertTransition
from payments.models import WebhookEvent
from tests.constants import CHAT_ID, TELEGRAM_SECRET, TELEGRAM_USER
from tests.factories import make_webhook_event

pytestmark = pytest.mark.django_db


def failing_webhooks(at):
    for n in range(4):
        make_webhook_event(
            event_id=f"evt_{at:%d%H%M}_{n}",
            type="payment_intent.succeeded",
            status=WebhookEvent.Status.FAILED,
            received_at=at - timedelta(minutes=1),
        )


def press(client, data: str, *, message_id: int, update_id: int = 1):
    body = {
        "update_id": update_id,
        "callback_query": {
            "id": f"query-{update_id}",
            "from": {"id": TELEGRAM_USER, "is_bot": False, "first_name": "Ada"},
            "message": {"message_id": message_id, "chat": {"id": int(CHAT_ID), "type": "supergroup"}, "text": "…"},
            "chat_instance": "-5",
            "data": data,
        },
    }
    return client.post(
        "/api/telegram/webhook",
        data=json.dumps(body),
        content_type="application/json",
        headers={SECRET_HEADER: TELEGRAM_SECRET},
    )


def test_acknowledge_from_telegram_edits_the_message_and_stops_the_reminders(
    client, telegram_webhook, settings, django_capture_on_commit_callbacks
):
    settings.TELEGRAM_CHAT_INTERVAL_SECONDS = 0
    now = timezone.now().replace(microsecond=0)
    failing_webhooks(now)
    assert alerts_evaluate(now=now).notified == ["firing:webhook_failures"]
    assert telegram_sweep()["sent"] == 1
    [sent] = telegram_webhook.calls("sendMessage")
    alert = Alert.objects.get()
    keyboard = sent["reply_markup"]["inline_keyboard"]
    assert [button["callback_data"] for row in keyboard for button in row] == [
        f"ack:{alert.pk}",
        f"silence_1h:{alert.pk}",
        f"silence_morning:{alert.pk}",
    ]
    message = TelegramMessage.objects.get(kind=Kind.ALERT)

    with django_capture_on_commit_callbacks(execute=True):
        response = press(client, f"ack:{alert.pk}", message_id=message.telegram_message_id)
    assert (response.status_code, response.json()["outcome"]) == (200, "acted")

    alert.refresh_from_db()
    assert alert.acknowledged_by == f"telegram:{TELEGRAM_USER}"
    assert AlertTransition.objects.filter(alert=alert, to_state="acknowledged").exists()
    [answer] = telegram_webhook.calls("answerCallbackQuery")
    assert answer["callback_query_id"] == "query-1" and "cknowledged" in answer["text"]
    [edit] = telegram_webhook.calls("editMessageText")
    assert edit["message_id"] == message.telegram_message_id
    assert "Acknowledged" in edit["text"]
    assert "reply_markup" not in edit or edit["reply_markup"] == {"inline_keyboard": []}

    # Eight hours of evaluations with the condition holding: no reminder goes out.
    for hours in range(1, 9):
        moment = now + timedelta(hours=hours)
        failing_webhooks(moment)
        assert alerts_evaluate(now=moment).notified == []

    # The same press again (Telegram retrying its delivery) changes nothing.
    with django_capture_on_commit_callbacks(execute=True):
        again = press(client, f"ack:{alert.pk}", message_id=message.telegram_message_id)
    assert again.status_code == 200
    assert AlertTransition.objects.filter(alert=alert, to_state="acknowledged").count() == 1
