"""Stripe events and signatures for the tests, built the way Stripe builds them."""

import hashlib
import hmac
import json
import time

SECRET = "whsec_test_secret"


def sign(payload: str, *, secret: str = SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event(event_type: str, obj: dict, *, event_id: str = "evt_1") -> dict:
    return {"id": event_id, "object": "event", "type": event_type, "created": 1767225600, "data": {"object": obj}}


def intent(
    *,
    pi: str = "pi_123",
    amount: int = 4999,
    currency: str = "usd",
    email: str | None = "Ada@Example.com ",
    funding: str = "credit",
    error: dict | None = None,
) -> dict:
    return {
        "id": pi,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": amount if error is None else 0,
        "currency": currency,
        "created": 1767225600,
        "receipt_email": email,
        "latest_charge": {
            "id": "ch_1",
            "object": "charge",
            "billing_details": {"email": None},
            "payment_method_details": {"type": "card", "card": {"funding": funding, "fingerprint": "fp_abc"}},
        },
        "last_payment_error": error,
    }


def succeeded(event_id: str = "evt_ok", **kwargs) -> dict:
    return event("payment_intent.succeeded", intent(**kwargs), event_id=event_id)


def failed(event_id: str = "evt_fail", **kwargs) -> dict:
    error = {"code": "card_declined", "message": "Your card was declined."}
    return event("payment_intent.payment_failed", intent(error=error, **kwargs), event_id=event_id)


def refunded(event_id: str = "evt_refund", *, pi: str = "pi_123", amount: int = 4999, reasons: tuple = ()) -> dict:
    """``reasons``: one refund per reason (newest first, as Stripe lists them) in ``charge.refunds``."""
    charge = {
        "id": "ch_1",
        "object": "charge",
        "amount": amount,
        "amount_refunded": amount,
        "refunded": True,
        "currency": "usd",
        "created": 1767225600,
        "payment_intent": pi,
        "billing_details": {"email": "ada@example.com"},
        "payment_method_details": {"type": "card", "card": {"funding": "debit", "fingerprint": "fp_abc"}},
    }
    if reasons:
        refunds = [{"id": f"re_{n}", "object": "refund", "amount": amount, "reason": r} for n, r in enumerate(reasons)]
        charge["refunds"] = {"object": "list", "data": refunds}
    return event("charge.refunded", charge, event_id=event_id)


def disputed(event_id: str = "evt_dispute", *, pi="pi_123", reason="fraudulent", created=1767312000, **fields) -> dict:
    """charge.dispute.created: its object is the dispute, which names the charge and its payment intent."""
    dispute = {
        "id": "dp_1",
        "object": "dispute",
        "amount": 4999,
        "currency": "usd",
        "charge": "ch_1",
        "payment_intent": pi,
        "reason": reason,
        "status": "needs_response",
        "created": created,
        **fields,
    }
    return event("charge.dispute.created", dispute, event_id=event_id)


def body(data: dict) -> str:
    return json.dumps(data)
