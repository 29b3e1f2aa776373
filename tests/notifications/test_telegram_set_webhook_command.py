"""manage.py telegram_set_webhook against the local stand-in for the Bot API."""

import pytest
from django.core.management import CommandError, call_command

from tests.constants import BOT_TOKEN, TELEGRAM_SECRET

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    from io import StringIO

    out, err = StringIO(), StringIO()
    call_command("telegram_set_webhook", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_registers_the_public_url_with_the_secret_for_presses_only(telegram_webhook, settings):
    settings.PUBLIC_BASE_URL = "https://ops.example.com"
    out, err = run()
    [body] = telegram_webhook.calls("setWebhook")
    assert body == {
        "url": "https://ops.example.com/api/telegram/webhook",
        "secret_token": TELEGRAM_SECRET,
        "allowed_updates": ["callback_query"],
        "drop_pending_updates": False,
    }
    assert out == (
        "Telegram webhook set: https://ops.example.com/api/telegram/webhook "
        "(button presses only, with the secret of TELEGRAM_WEBHOOK_SECRET).\n"
    )
    assert err == ""
    assert TELEGRAM_SECRET not in out + err and BOT_TOKEN not in out + err


def test_url_and_drop_pending_updates_are_passed_on(telegram_webhook):
    out, err = run("--url", "http://127.0.0.1:9999/api/telegram/webhook", "--drop-pending-updates")
    [body] = telegram_webhook.calls("setWebhook")
    assert (body["url"], body["drop_pending_updates"]) == ("http://127.0.0.1:9999/api/telegram/webhook", True)
    assert "Pending updates dropped." in out
    assert "only https" in err


def test_delete_removes_the_webhook(telegram_webhook):
    out, _ = run("--delete")
    assert telegram_webhook.calls("deleteWebhook") == [{"drop_pending_updates": False}]
    assert out == "Telegram webhook removed.\n"


def test_it_refuses_without_a_secret(telegram_webhook, settings):
    settings.TELEGRAM_WEBHOOK_SECRET = ""
    with pytest.raises(CommandError, match="TELEGRAM_WEBHOOK_SECRET"):
        run()
    assert telegram_webhook.requests == []


@pytest.mark.parametrize("url", ["ftp://example.com/x", "https://user:pw@example.com/x", "not a url"])
def test_it_refuses_a_bad_url(telegram_webhook, url):
    with pytest.raises(CommandError, match="--url"):
        run("--url", url)
    assert telegram_webhook.requests == []


def test_a_refusal_by_telegram_is_shown_without_the_token(telegram_webhook):
    telegram_webhook.answers = [(400, {"ok": False, "description": f"Bad Request: bad webhook for bot{BOT_TOKEN}"})]
    with pytest.raises(CommandError) as refused:
        run()
    assert str(refused.value) == "Telegram refused: HTTP 400: Bad Request: bad webhook for bot***"
