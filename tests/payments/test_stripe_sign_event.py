import shlex
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from payments.models import Payment
from tests.constants import WEBHOOK_URL as URL
from tests.payments import stripe_events as se


def test_it_prints_a_curl_command_that_delivers_the_event(tmp_path, client, db):
    event_file = tmp_path / "event.json"
    event_file.write_text(se.body(se.succeeded()))
    out = StringIO()
    call_command("stripe_sign_event", "--file", str(event_file), stdout=out)
    argv = shlex.split(out.getvalue())
    assert argv[:5] == ["curl", "-sS", "-X", "POST", "http://127.0.0.1:8000/api/webhooks/stripe"]
    assert argv[-2:] == ["--data-binary", f"@{event_file}"]
    signature = argv[argv.index("Content-Type: application/json") + 2].removeprefix("Stripe-Signature: ")
    response = client.post(
        URL, event_file.read_bytes(), content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )
    assert response.status_code == 200
    assert Payment.objects.get().status == "succeeded"


def test_it_needs_the_secret(tmp_path, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    (tmp_path / "event.json").write_text("{}")
    with pytest.raises(CommandError, match="STRIPE_WEBHOOK_SECRET"):
        call_command("stripe_sign_event", "--file", str(tmp_path / "event.json"), stdout=StringIO())
