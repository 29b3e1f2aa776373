"""Poison deliveries: deep JSON, amounts beyond any column, events that can never be processed, unsigned junk."""

import json
import time
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import OperationalError
from django.test import Client

from echopilot.money import MAX_AMOUNT_MINOR
from observability.housekeeping import self_heal_run
from payments.models import Payment, WebhookEvent, WebhookRejection
from tests.constants import WEBHOOK_URL as URL
from tests.payments import stripe_events as se

pytestmark = pytest.mark.django_db


def invalid_answer(response, event_id: str = "evt_ok") -> str:
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["ok"], body["event_id"], body["outcome"]) == (True, event_id, "invalid")
    webhook = WebhookEvent.objects.get(event_id=event_id)
    assert webhook.status == WebhookEvent.Status.INVALID
    assert webhook.last_error == body["reason"] and body["reason"]
    return body["reason"]


# --- JSON nested too deeply ----------------------------------------------------------------


def test_a_signed_deeply_nested_body_is_refused_not_a_500(deliver):
    event = se.succeeded()
    payload = json.dumps(event)[:-1] + ', "deep": ' + "[" * 1000 + "]" * 1000 + "}"
    response = deliver(payload)
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_request"
    assert not WebhookEvent.objects.exists() and not Payment.objects.exists()
    assert WebhookRejection.objects.get().reason == "malformed_event"


def test_a_signed_event_nested_up_to_the_limit_is_processed(deliver):
    event = se.succeeded()
    event["data"]["object"]["metadata"] = {"a": [[[["fine"]]]]}
    assert deliver(event).json()["outcome"] == "processed"


# --- Amount bounds ---------------------------------------------------------------------------


def test_an_amount_beyond_any_column_is_invalid_and_every_read_still_answers(deliver, api, admin_client, client):
    from portal.services import portal_link_create

    deliver(se.succeeded(event_id="evt_fine", pi="pi_fine", email="ada@example.com"))
    response = deliver(se.succeeded(amount=100_000_000_000_000, email="ada@example.com"))
    assert "above the maximum of 99999999 minor units" in invalid_answer(response)
    assert list(Payment.objects.values_list("provider_id", flat=True)) == ["pi_fine"]

    assert api.get("/api/payments").status_code == 200
    assert api.get("/api/payments", {"email": "ada@example.com"}).json()["count"] == 1
    assert admin_client.get("/admin/payments/payment/").status_code == 200
    _, path = portal_link_create(email="ada@example.com", created_by="test")
    page = client.get(path, follow=True)
    assert page.status_code == 200 and "49.99" in page.text


@pytest.mark.parametrize(
    ("currency", "minor", "amount"),
    [("usd", MAX_AMOUNT_MINOR, "999999.99"), ("jpy", MAX_AMOUNT_MINOR, "99999999.00"), ("kwd", 99_999_990, "99999.99")],
)
def test_the_largest_amount_is_accepted_in_every_exponent(deliver, api, currency, minor, amount):
    response = deliver(se.succeeded(amount=minor, currency=currency))
    assert response.json()["outcome"] == "processed"
    assert Payment.objects.get().amount == Decimal(amount)
    assert api.get("/api/payments").json()["results"][0]["amount"] == amount


def test_one_minor_unit_more_is_invalid(deliver):
    invalid_answer(deliver(se.succeeded(amount=MAX_AMOUNT_MINOR + 1)))
    assert not Payment.objects.exists()


# --- Events that can never be processed -------------------------------------------------------


def _without(obj: dict, *keys: str) -> dict:
    return {key: value for key, value in obj.items() if key not in keys}


def _intent(**changes) -> dict:
    return se.event("payment_intent.succeeded", {**se.intent(), **changes}, event_id="evt_ok")


def _charge(**changes) -> dict:
    event = se.refunded(event_id="evt_ok")
    event["data"]["object"].update(changes)
    return event


INVALID_EVENTS = {
    "negative amount": _intent(amount=-1, amount_received=-1),
    "fractional amount": _intent(amount=49.5, amount_received=49.5),
    "amount as a string": _intent(amount="4999", amount_received="4999"),
    "amount as a boolean": _intent(amount=True, amount_received=True),
    "missing amount": se.event(
        "payment_intent.succeeded", _without(se.intent(), "amount", "amount_received"), event_id="evt_ok"
    ),
    "huge amount": _intent(amount=10**40, amount_received=10**40),
    "unknown currency": _intent(currency="xyz"),
    "currency not a code": _intent(currency="us dollars"),
    "missing currency": se.event("payment_intent.succeeded", _without(se.intent(), "currency"), event_id="evt_ok"),
    "currency of the wrong type": _intent(currency=840),
    "payment id missing": se.event("payment_intent.succeeded", _without(se.intent(), "id"), event_id="evt_ok"),
    "payment id of another kind": _intent(id="ch_123"),
    "payment id with a control character": _intent(id="pi_1\n2"),
    "payment id of the wrong type": _intent(id=123),
    "malformed email": _intent(receipt_email="not-an-address"),
    "email with a control character": _intent(receipt_email='"a\x0bb"@example.com'),
    "email of the wrong type": _intent(receipt_email=["ada@example.com"]),
    "charge of the wrong type": _intent(latest_charge=["ch_1"]),
    "billing details of the wrong type": _intent(
        latest_charge={"id": "ch_1", "billing_details": "ada@example.com"}, receipt_email=None
    ),
    "card details of the wrong type": _intent(latest_charge={"id": "ch_1", "payment_method_details": "card"}),
    "malformed card fingerprint": _intent(
        latest_charge={"id": "ch_1", "payment_method_details": {"card": {"fingerprint": "fp with spaces"}}}
    ),
    "creation time of the wrong type": _intent(created="2026-01-01"),
    "creation time out of range": _intent(created=10**20),
    "failure of the wrong type": se.event(
        "payment_intent.payment_failed", {**se.intent(), "last_payment_error": "declined"}, event_id="evt_ok"
    ),
    "refund without a payment intent": _charge(payment_intent=None),
    "refund with a negative amount": _charge(amount=-5),
}


@pytest.mark.parametrize("event", INVALID_EVENTS.values(), ids=INVALID_EVENTS.keys())
def test_an_event_that_can_never_be_processed_is_invalid_and_answered_200(
    event, deliver, django_capture_on_commit_callbacks, read_audit
):
    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(event)
    invalid_answer(response)
    assert not Payment.objects.exists()
    [line] = read_audit("payments")
    assert (line["event"], line["event_id"], line["attempts"]) == ("webhook_invalid", "evt_ok", 1)


def test_a_refund_without_a_payment_intent_invents_no_ledger_row(deliver):
    deliver(se.succeeded(event_id="evt_first"))
    reason = invalid_answer(deliver(_charge(payment_intent=None)))
    assert reason == "the charge has no payment_intent, so no payment of the ledger is refunded"
    assert list(Payment.objects.values_list("provider_id", "status")) == [("pi_123", "succeeded")]


def test_an_invalid_event_changes_nothing_of_an_existing_payment(deliver):
    deliver(se.succeeded(event_id="evt_first"))
    before = list(Payment.objects.values())
    invalid_answer(deliver(_charge(amount=-5)))
    assert list(Payment.objects.values()) == before


def test_an_invalid_email_is_never_stored(deliver):
    deliver(se.failed(event_id="evt_first", email="ada@example.com"))
    invalid_answer(deliver(se.succeeded(email="ada@example.com\u2028bcc@evil.example")))
    assert Payment.objects.get().email == "ada@example.com"


def test_an_invalid_event_is_terminal(deliver, settings):
    invalid_answer(deliver(_intent(currency="xyz")))
    assert deliver(_intent(currency="xyz")).json()["outcome"] == "duplicate"
    out = StringIO()
    call_command("replay_webhooks", stdout=out, stderr=StringIO())
    assert "nothing to do" in out.getvalue()
    assert self_heal_run()["webhooks"] == {}
    webhook = WebhookEvent.objects.get()
    assert (webhook.status, webhook.attempts) == ("invalid", 1)


def test_a_stored_failed_event_that_is_invalid_becomes_invalid_when_replayed(monkeypatch):
    event = _intent(amount=-1, amount_received=-1)
    WebhookEvent.objects.create(event_id="evt_ok", type=event["type"], payload=event, status="failed", attempts=3)
    assert self_heal_run()["webhooks"] == {"invalid": 1}
    assert self_heal_run()["webhooks"] == {}
    assert WebhookEvent.objects.get().status == "invalid"


def test_the_reprocess_action_skips_invalid_events(admin_client):
    event = _intent(currency="xyz")
    webhook = WebhookEvent.objects.create(
        event_id="evt_ok", type=event["type"], payload=event, status="invalid", attempts=1
    )
    from payments.services import webhook_event_reprocess

    assert webhook_event_reprocess(webhook=webhook) == "skipped"


def test_a_failure_after_an_invalid_delivery_leaves_it_invalid(deliver, monkeypatch):
    """A concurrent processing failure never turns a terminal event back into one to retry."""
    invalid_answer(deliver(_intent(currency="xyz")))
    from payments.services import _webhook_unprocessed

    _webhook_unprocessed(event=_intent(currency="xyz"), status="failed", error="OperationalError: gone")
    assert WebhookEvent.objects.get().status == "invalid"


def test_a_processing_failure_is_still_failed_and_answered_500(deliver, monkeypatch):
    def locked(facts):
        raise OperationalError("database is locked")

    monkeypatch.setattr("payments.services._payment_apply", locked)
    assert deliver(se.succeeded()).status_code == 500
    assert WebhookEvent.objects.get().status == "failed"


# --- Unsigned junk ------------------------------------------------------------------------------


@pytest.mark.slow
def test_refused_deliveries_are_counted_not_stored_one_by_one(read_audit, django_capture_on_commit_callbacks):
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(300):
            response = client.post(URL, '{"id": "evt_' + str(n) + '"}', content_type="application/json")
            assert response.status_code == 400
    rows = list(WebhookRejection.objects.all())
    assert sum(row.count for row in rows) == 300
    assert {row.reason for row in rows} == {"invalid_signature"}
    assert not WebhookEvent.objects.exists()
    lines = read_audit("payments")
    assert {line["event"] for line in lines} == {"webhook_rejected"}
    if len(rows) == 1:
        assert [line["count"] for line in lines] == [1, 10, 100]
    else:  # the run crossed a minute boundary
        assert len(rows) == 2 and len(lines) <= 2 * 3


@pytest.mark.slow
def test_a_thousand_refusals_add_one_row_and_four_lines(read_audit, django_capture_on_commit_callbacks):
    """The bound: a row per reason and minute, an audit line at its counts 1, 10, 100, 1000, ... (10,000: five)."""
    from payments.services import webhook_reject

    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(1000):
            webhook_reject(reason="invalid_signature", detail="no signature", body=b"{}", content_type="text/plain")
    rows = list(WebhookRejection.objects.values_list("pk", "count"))
    assert sum(count for _, count in rows) == 1000
    lines = read_audit("payments")
    if len(rows) == 1:
        assert [line["count"] for line in lines] == [1, 10, 100, 1000]
    else:  # the run crossed a minute boundary: still one row and at most four lines per minute
        assert len(rows) == 2 and len(lines) <= 2 * 4


def test_refusals_keep_only_metadata_of_the_latest_body(deliver):
    deliver(b"secret-looking junk \x00\xff", signature=None, content_type="text/plain")
    deliver(b"more", signature=None, content_type="text/plain")
    row = WebhookRejection.objects.get()
    assert (row.reason, row.count, row.last_bytes, row.last_content_type) == (
        "unsupported_media_type",
        2,
        4,
        "text/plain",
    )
    assert "junk" not in str(list(WebhookRejection.objects.values()))


def test_a_timestamp_beyond_the_tolerance_in_the_future_is_refused(deliver):
    payload = se.body(se.succeeded())
    response = deliver(payload, signature=se.sign(payload, timestamp=int(time.time()) + 301))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_signature"
    assert not WebhookEvent.objects.exists()
    assert WebhookRejection.objects.get().last_detail == "Timestamp outside the tolerance zone"


def test_a_timestamp_slightly_in_the_future_is_accepted(deliver):
    payload = se.body(se.succeeded())
    assert deliver(payload, signature=se.sign(payload, timestamp=int(time.time()) + 240)).status_code == 200


# --- Text no database stores ---------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["\\u0000", "\\ud800", "\\udfff\\ud800"])
def test_text_no_database_stores_is_replaced_not_a_500(deliver, bad):
    event = se.failed()
    event["data"]["object"]["last_payment_error"]["message"] = "MARK"
    event["data"]["object"]["metadata"] = {"MARK": "MARK"}
    response = deliver(json.dumps(event).replace("MARK", "x" + bad))
    assert response.status_code == 200 and response.json()["outcome"] == "processed"
    payment = Payment.objects.get()
    assert payment.failure_message.startswith("x\ufffd")
    stored = WebhookEvent.objects.get().payload["data"]["object"]["metadata"]
    assert all(key.startswith("x\ufffd") and value.startswith("x\ufffd") for key, value in stored.items())


def test_an_escaped_backslash_is_left_alone(deliver):
    event = se.succeeded()
    event["data"]["object"]["metadata"] = {"path": "C:\\u0000dir"}  # a backslash, then the letters u0000
    assert deliver(event).json()["outcome"] == "processed"
    assert WebhookEvent.objects.get().payload == event


@pytest.mark.parametrize("event_type", ["payment_intent.succeeded\\ud800", "Payment_Intent.Succeeded", "a b"])
def test_an_event_type_that_is_not_a_type_is_malformed(deliver, event_type):
    payload = json.dumps(se.succeeded()).replace("payment_intent.succeeded", event_type)
    response = deliver(payload)
    assert response.status_code == 400 and response.json()["error"] == "malformed_request"
    assert not WebhookEvent.objects.exists()
