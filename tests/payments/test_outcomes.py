"""What the fraud guard learns from the ledger: disputes and the reasons of refunds, through the real webhook."""

from datetime import UTC, datetime

import pytest

from payments.models import Payment, WebhookEvent
from tests.payments import stripe_events as se

pytestmark = pytest.mark.django_db


def payment() -> Payment:
    return Payment.objects.get(provider_id="pi_123")


def webhook(event_id: str) -> WebhookEvent:
    return WebhookEvent.objects.get(event_id=event_id)


def test_a_dispute_marks_the_payment_disputed_with_its_time_and_reason(
    deliver, django_capture_on_commit_callbacks, read_audit
):
    deliver(se.succeeded())
    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(se.disputed(reason="fraudulent", created=1767312000))
    assert response.json() == {"ok": True, "event_id": "evt_dispute", "outcome": "processed"}
    disputed = payment()
    assert disputed.disputed_at == datetime(2026, 1, 2, tzinfo=UTC)
    assert (disputed.dispute_reason, disputed.status) == ("fraudulent", "succeeded")
    lines = read_audit("payments")
    assert {"event": "payment_disputed", "payment": "pi_123", "reason": "fraudulent"}.items() <= lines[-2].items()
    assert (lines[-1]["event"], lines[-1]["type"]) == ("webhook_processed", "charge.dispute.created")


def test_a_redelivered_or_second_dispute_keeps_the_first(deliver, django_capture_on_commit_callbacks, read_audit):
    deliver(se.succeeded())
    deliver(se.disputed(reason="fraudulent", created=1767312000))
    assert deliver(se.disputed(reason="fraudulent")).json()["outcome"] == "duplicate"
    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(se.disputed("evt_dispute_2", reason="product_not_received", created=1767398400))
    assert response.json()["outcome"] == "processed"
    assert (payment().disputed_at, payment().dispute_reason) == (datetime(2026, 1, 2, tzinfo=UTC), "fraudulent")
    assert "payment_disputed" not in [line["event"] for line in read_audit("payments")]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"payment_intent": None}, "the dispute has no payment_intent"),
        ({"payment_intent": "ch_1"}, "the payment intent id is missing or malformed"),
        ({"payment_intent": ["pi_123"]}, "the payment intent id is missing or malformed"),
        ({"reason": "<script>alert(1)</script>"}, "dispute.reason must be a reason code"),
        ({"reason": "fraud\x00ulent"}, "dispute.reason must be a reason code"),
        ({"reason": 7}, "dispute.reason must be a reason code"),
        ({"reason": "x" * 51}, "dispute.reason must be a reason code"),
        ({"created": "yesterday"}, "dispute.created must be an integer"),
        ({"created": 10**20}, "dispute.created is not a time"),
    ],
)
def test_a_malformed_dispute_is_invalid_not_an_error(deliver, fields, error):
    deliver(se.succeeded())
    response = deliver(se.disputed(**fields))
    assert response.status_code == 200
    assert response.json()["outcome"] == "invalid" and response.json()["reason"].startswith(error)
    assert (webhook("evt_dispute").status, payment().disputed_at) == ("invalid", None)


def test_a_dispute_before_its_payment_fails_and_a_replay_applies_it(deliver):
    response = deliver(se.disputed())
    assert response.status_code == 500 and response.json()["error"] == "processing_failed"
    assert webhook("evt_dispute").status == "failed"
    deliver(se.succeeded())
    assert deliver(se.disputed()).json()["outcome"] == "processed"
    assert payment().dispute_reason == "fraudulent"


def test_a_refund_keeps_its_reason(deliver):
    deliver(se.succeeded())
    deliver(se.refunded(reasons=("fraudulent",)))
    assert (payment().status, payment().refund_reason) == ("refunded", "fraudulent")


def test_a_later_refund_records_its_reason_but_never_replaces_fraudulent(deliver):
    deliver(se.succeeded())
    deliver(se.refunded(reasons=("requested_by_customer",)))
    assert payment().refund_reason == "requested_by_customer"
    deliver(se.refunded("evt_refund_2", reasons=("fraudulent", "requested_by_customer")))
    assert payment().refund_reason == "fraudulent"
    deliver(se.refunded("evt_refund_3", reasons=("duplicate",)))
    assert payment().refund_reason == "fraudulent"


def test_a_refund_without_reasons_leaves_the_reason_empty(deliver):
    deliver(se.refunded())
    assert (payment().status, payment().refund_reason) == ("refunded", "")


@pytest.mark.parametrize(
    ("charge", "error"),
    [
        ({"refunds": {"data": [{"reason": "Fraudulent!"}]}}, "charge.refunds.data[].reason must be a reason code"),
        ({"refunds": {"data": ["re_1"]}}, "charge.refunds.data must hold refunds"),
        ({"refunds": []}, "charge.refunds must be an object"),
    ],
)
def test_a_malformed_refund_reason_is_invalid(deliver, charge, error):
    event = se.refunded()
    event["data"]["object"].update(charge)
    response = deliver(event)
    assert response.json()["outcome"] == "invalid" and response.json()["reason"].startswith(error)
    assert not Payment.objects.exists()
