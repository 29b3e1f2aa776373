"""One update posted several times at once (Telegram retrying while we answer): acted on and answered once."""

import json
import threading

import pytest
from django.db import connection
from django.test import Client

from notifications.buttons import SECRET_HEADER
from notifications.models import TelegramUpdate
from notifications.services import telegram_send, telegram_sweep
from notifications.signals import ButtonAnswer, telegram_button
from tests.constants import CHAT_ID, TELEGRAM_SECRET, TELEGRAM_USER

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_same_update_posted_at_once_is_acted_on_once(telegram_webhook, button_receivers_aside):
    [message] = telegram_send(kind="alert", subject="s", text="t", buttons=[[["Acknowledge", "ack:al_1"]]])
    telegram_sweep()  # (the task queue runs in-process here: the commit's task may have sent it already)
    message.refresh_from_db()
    assert message.telegram_message_id == 1
    calls = []

    def receiver(sender, **kwargs):
        calls.append(kwargs["action"])
        return ButtonAnswer(notice="Acknowledged.", text="t\nAcknowledged")  # the button stays: it may be pressed again

    telegram_button.connect(receiver, dispatch_uid="test-concurrency")
    body = json.dumps(
        {
            "update_id": 42,
            "callback_query": {
                "id": "query-42",
                "from": {"id": TELEGRAM_USER, "is_bot": False, "first_name": "Ada"},
                "message": {"message_id": 1, "chat": {"id": int(CHAT_ID), "type": "supergroup"}},
                "data": "ack:al_1",
            },
        }
    )
    threads_count = 6
    barrier = threading.Barrier(threads_count)
    answers = [None] * threads_count

    def post(index: int):
        try:
            barrier.wait()
            response = Client().post(
                "/api/telegram/webhook",
                data=body,
                content_type="application/json",
                headers={SECRET_HEADER: TELEGRAM_SECRET},
            )
            answers[index] = (response.status_code, response.json()["outcome"])
        finally:
            connection.close()

    try:
        threads = [threading.Thread(target=post, args=(index,)) for index in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        telegram_button.disconnect(dispatch_uid="test-concurrency")
    assert sorted(answers) == [(200, "acted")] + [(200, "replayed")] * (threads_count - 1)
    assert calls == ["ack"]
    assert TelegramUpdate.objects.count() == 1
    assert len(telegram_webhook.calls("answerCallbackQuery")) == 1
    assert len(telegram_webhook.calls("editMessageText")) == 1
    message.refresh_from_db()
    assert (message.revision, message.text, message.edit_due) == (1, "t\nAcknowledged", False)
