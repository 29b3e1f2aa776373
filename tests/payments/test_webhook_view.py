import hashlib
import time
from decimal import Decimal

import pytest
from django.db import OperationalError

from payments.models import Payment, WebhookEvent, WebhookRejection
from tests.constants import WEBHOOK_URL as URL
from tests.factories import make_payment
from tests.payments import stripe_events as se

pytestmark = pytest.mark.django_db


def only_payment() -> Payment:
    [payment] = Payment.objects.all()
    return payment


def rejected() -> list[WebhookRejection]:
    return list(WebhookRejection.objects.all())


def assert_nothing_processed():
    assert not Payment.objects.exists()
    assert not WebhookEvent.objects.exists()


# --- Signatures -------------------------------------------------------------


def test_it_accepts_a_valid_signature(deliver):
    response = deliver(se.succeeded())
    assert response.status_code == 200
    assert response.json() == {"ok": True, "event_id": "evt_ok", "outcome": "processed"}


def test_it_rejects_a_signature_made_with_another_secret(deliver, django_capture_on_commit_callbacks, read_audit):
    payload = se.body(se.succeeded())
    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(payload, signature=se.sign(payload, secret="whsec_other"))
    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert response.json()["error"] == "invalid_signature"
    assert_nothing_processed()
    [rejection] = rejected()
    assert (rejection.reason, rejection.count, rejection.last_content_type) == (
        "invalid_signature",
        1,
        "application/json",
    )
    assert rejection.last_bytes == len(payload.encode())
    assert rejection.last_sha256 == hashlib.sha256(payload.encode()).hexdigest()
    [line] = read_audit("payments")
    assert line["event"] == "webhook_rejected"
    assert (line["reason"], line["rejection"], line["count"]) == ("invalid_signature", rejection.pk, 1)
    assert "pi_123" not in str(line)


def test_it_rejects_an_expired_timestamp(deliver):
    payload = se.body(se.succeeded())
    response = deliver(payload, signature=se.sign(payload, timestamp=int(time.time()) - 301))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_signature"
    assert_nothing_processed()
    assert "tolerance" in rejected()[0].last_detail


def test_it_accepts_a_timestamp_within_five_minutes(deliver):
    payload = se.body(se.succeeded())
    response = deliver(payload, signature=se.sign(payload, timestamp=int(time.time()) - 240))
    assert response.status_code == 200


def test_it_rejects_a_missing_signature_header(deliver):
    response = deliver(se.succeeded(), signature=None)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_signature"
    assert_nothing_processed()
    assert [rejection.count for rejection in rejected()] == [1]


def test_it_rejects_a_tampered_body(deliver):
    payload = se.body(se.succeeded())
    signature = se.sign(payload)
    response = deliver(payload.replace("4999", "1"), signature=signature)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_signature"
    assert_nothing_processed()


def test_it_rejects_every_delivery_when_no_secret_is_configured(deliver, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    payload = se.body(se.succeeded())
    response = deliver(payload, signature=se.sign(payload, secret=""))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_signature"
    assert_nothing_processed()
    assert rejected()[0].reason == "secret_not_configured"


def test_it_needs_no_dash_key(deliver, api):
    assert deliver(se.succeeded()).status_code == 200
    response = api.post(URL, se.body(se.succeeded(event_id="evt_2")), content_type="application/json")
    assert response.status_code == 400  # the dash key is no substitute for the signature


# --- Malformed deliveries ---------------------------------------------------


def test_it_refuses_malformed_json_even_when_signed(deliver):
    response = deliver('{"id": "evt_1", "type": ')
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_request"
    assert_nothing_processed()
    assert rejected()[0].reason == "malformed_event"


def test_it_refuses_signed_json_that_is_not_an_event(deliver):
    response = deliver({"id": "evt_1", "type": "payment_intent.succeeded", "data": []})
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_request"
    assert_nothing_processed()


def test_it_refuses_a_body_that_is_not_utf8(deliver):
    response = deliver(b'\xff{"id": "evt_1"}', signature="t=1,v1=00")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_signature"
    assert_nothing_processed()


def test_it_refuses_another_content_type(deliver):
    response = deliver(se.succeeded(), content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"
    assert_nothing_processed()
    assert rejected()[0].reason == "unsupported_media_type"


def test_it_refuses_a_body_over_one_mib(deliver):
    event = se.succeeded()
    event["data"]["object"]["metadata"] = {"padding": "x" * (1024 * 1024)}
    response = deliver(event)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert not WebhookEvent.objects.exists()
    assert not Payment.objects.exists()


def test_it_refuses_get(client):
    response = client.get(URL)
    assert response.status_code == 405
    assert response.json()["ok"] is False


# --- Event types ------------------------------------------------------------


def test_succeeded_creates_an_unknown_payment(deliver):
    deliver(se.succeeded())
    payment = only_payment()
    assert payment.provider_id == "pi_123"
    assert payment.status == Payment.Status.SUCCEEDED
    assert payment.amount == Decimal("49.99")
    assert payment.currency == "usd"
    assert payment.email == "ada@example.com"
    assert payment.card_type == Payment.CardType.CREDIT
    assert payment.card_fingerprint == "fp_abc"
    assert payment.created_at.timestamp() == 1767225600
    webhook = WebhookEvent.objects.get(event_id="evt_ok")
    assert (webhook.status, webhook.type, webhook.attempts) == ("processed", "payment_intent.succeeded", 1)
    assert webhook.payload == se.succeeded()


def test_succeeded_moves_a_pending_payment_forward(deliver):
    make_payment("pi_123", amount=Decimal("49.99"), status=Payment.Status.PENDING)
    deliver(se.succeeded())
    assert only_payment().status == Payment.Status.SUCCEEDED


def test_succeeded_requests_the_receipt_once(deliver, django_capture_on_commit_callbacks, read_audit):
    with django_capture_on_commit_callbacks(execute=True):
        deliver(se.succeeded())
        deliver(se.succeeded(event_id="evt_ok_again"))
    assert only_payment().receipt_requested_at is not None
    assert not only_payment().receipt_owed  # its email was created on commit
    events = [line["event"] for line in read_audit("payments")]
    assert events.count("receipt_requested") == 1
    assert events.count("webhook_processed") == 2


def test_a_succeeded_payment_produces_exactly_one_receipt_email(deliver, django_capture_on_commit_callbacks):
    from notifications.models import Email

    with django_capture_on_commit_callbacks(execute=True):
        deliver(se.succeeded())
        deliver(se.succeeded())  # the same event again
        deliver(se.succeeded(event_id="evt_ok_again"))  # another event for the same payment
    [receipt] = Email.objects.all()
    assert receipt.kind == "receipt" and receipt.payment == only_payment()
    assert receipt.to == [only_payment().email] and receipt.idempotency_key == "receipt:pi_123"
    assert "pi_123" in receipt.body


def test_a_failed_payment_produces_no_receipt(deliver):
    from notifications.models import Email

    deliver(se.failed())
    assert not Email.objects.exists()


def test_succeeded_takes_the_email_from_the_charge_without_receipt_email(deliver):
    event = se.succeeded(email=None)
    event["data"]["object"]["latest_charge"]["billing_details"]["email"] = "Grace@Example.org"
    deliver(event)
    assert only_payment().email == "grace@example.org"


def test_succeeded_without_card_details_stores_unknown_card(deliver):
    event = se.succeeded()
    event["data"]["object"]["latest_charge"] = "ch_1"
    deliver(event)
    payment = only_payment()
    assert (payment.card_type, payment.card_fingerprint) == ("unknown", "")


@pytest.mark.parametrize(
    ("currency", "minor", "amount"),
    [("jpy", 5000, Decimal("5000.00")), ("kwd", 12340, Decimal("12.34")), ("eur", 5, Decimal("0.05"))],
)
def test_amounts_follow_the_currency_exponent(deliver, currency, minor, amount):
    deliver(se.succeeded(currency=currency.upper(), amount=minor))
    payment = only_payment()
    assert (payment.currency, payment.amount) == (currency, amount)


def test_payment_failed_stores_the_failure(deliver, django_capture_on_commit_callbacks, read_audit):
    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(se.failed())
    assert response.json()["outcome"] == "processed"
    payment = only_payment()
    assert payment.status == Payment.Status.FAILED
    assert payment.failure_code == "card_declined"
    assert payment.failure_message == "Your card was declined."
    assert payment.receipt_requested_at is None and not payment.receipt_owed
    [line] = read_audit("payments")
    assert line["event"] == "webhook_processed"
    assert (line["event_id"], line["payment"], line["payment_status"]) == ("evt_fail", "pi_123", "failed")


def test_charge_refunded_refunds_the_payment(deliver):
    deliver(se.succeeded())
    deliver(se.refunded())
    payment = only_payment()
    assert payment.status == Payment.Status.REFUNDED
    assert payment.amount == Decimal("49.99")


def test_charge_refunded_creates_an_unknown_payment(deliver):
    deliver(se.refunded(pi="pi_new"))
    payment = only_payment()
    assert (payment.provider_id, payment.status, payment.card_type) == ("pi_new", "refunded", "debit")


def test_other_types_are_stored_as_ignored(deliver, django_capture_on_commit_callbacks, read_audit):
    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(se.event("customer.created", {"id": "cus_1"}, event_id="evt_cus"))
    assert response.status_code == 200
    assert response.json()["outcome"] == "ignored"
    assert WebhookEvent.objects.get(event_id="evt_cus").status == WebhookEvent.Status.IGNORED
    assert not Payment.objects.exists()
    assert [line["event"] for line in read_audit("payments")] == ["webhook_ignored"]


# --- Idempotency and order --------------------------------------------------


def test_the_same_event_twice_is_processed_once(deliver):
    first = deliver(se.succeeded())
    Payment.objects.update(email="changed@example.com")
    second = deliver(se.succeeded())
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["outcome"] == "duplicate"
    assert only_payment().email == "changed@example.com"
    assert WebhookEvent.objects.get().attempts == 1


def test_the_same_ignored_event_twice_is_a_duplicate(deliver):
    event = se.event("customer.created", {"id": "cus_1"})
    deliver(event)
    assert deliver(event).json()["outcome"] == "duplicate"


def test_a_late_failure_does_not_undo_a_success(deliver):
    deliver(se.succeeded())
    response = deliver(se.failed())
    assert response.status_code == 200
    payment = only_payment()
    assert payment.status == Payment.Status.SUCCEEDED
    assert payment.failure_code == ""


def test_a_late_success_does_not_undo_a_refund(deliver):
    deliver(se.refunded())
    deliver(se.succeeded())
    assert only_payment().status == Payment.Status.REFUNDED


def test_a_success_after_a_failure_wins(deliver):
    deliver(se.failed())
    deliver(se.succeeded())
    payment = only_payment()
    assert (payment.status, payment.failure_code, payment.failure_message) == ("succeeded", "", "")


# --- Processing errors ------------------------------------------------------


def test_a_processing_error_is_recorded_and_answered_500(
    deliver, django_capture_on_commit_callbacks, read_audit, monkeypatch
):
    def locked(facts):
        raise OperationalError("database is locked")

    monkeypatch.setattr("payments.services._payment_apply", locked)
    event = se.succeeded()
    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(event)
    assert response.status_code == 500
    assert response.json()["error"] == "processing_failed"
    assert not Payment.objects.exists()
    webhook = WebhookEvent.objects.get(event_id="evt_ok")
    assert (webhook.status, webhook.attempts) == ("failed", 1)
    assert webhook.last_error == "OperationalError: database is locked"
    assert webhook.payload == event
    [line] = read_audit("payments")
    assert (line["event"], line["event_id"], line["attempts"]) == ("webhook_failed", "evt_ok", 1)
    assert deliver(event).status_code == 500
    assert WebhookEvent.objects.get(event_id="evt_ok").attempts == 2


def test_a_retry_after_a_processing_error_processes_the_event(deliver, monkeypatch):
    def broken_receipt(*, payment):
        raise RuntimeError("mail queue down")

    monkeypatch.setattr("payments.services.payment_receipt_request", broken_receipt)
    assert deliver(se.succeeded()).status_code == 500
    assert not Payment.objects.exists()  # the effect was rolled back
    monkeypatch.undo()

    response = deliver(se.succeeded())
    assert response.status_code == 200
    assert response.json()["outcome"] == "processed"
    payment = only_payment()
    assert payment.status == Payment.Status.SUCCEEDED
    assert payment.receipt_requested_at is not None
    webhook = WebhookEvent.objects.get(event_id="evt_ok")
    assert (webhook.status, webhook.attempts, webhook.last_error) == ("processed", 2, "")
    assert deliver(se.succeeded()).json()["outcome"] == "duplicate"
