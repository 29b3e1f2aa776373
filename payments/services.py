"""Payments: the ledger's writes, driven by Stripe's webhook events.

A delivery is verified first (HMAC over the raw body, 5 minutes tolerance);
a delivery that fails a check is recorded as ``rejected`` with metadata only.
A verified event is processed in one short transaction: insert-or-lock its
row by event id, stop when it is already handled, apply its effect to the
payment, mark it. When applying raises, that transaction rolls back and a
second one records the event as ``failed``; a redelivery processes it again.
"""

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_q.tasks import async_task

from echopilot.audit import audit_event
from echopilot.errors import ApiError
from echopilot.parsers import reject_json_constant
from payments.models import Payment, WebhookEvent
from payments.rules import CURRENCY_CODE, amount_from_minor, normalize_email, status_advances

logger = logging.getLogger(__name__)

SIGNATURE_TOLERANCE_SECONDS = 300
DUPLICATE = "duplicate"


@dataclass(frozen=True)
class PaymentFacts:
    """What one event says about a payment."""

    provider_id: str
    status: str
    amount: Decimal
    currency: str
    email: str
    card_type: str
    card_fingerprint: str
    failure_code: str
    failure_message: str
    created_at: datetime


def _billing_email(charge: dict | None) -> str | None:
    return ((charge or {}).get("billing_details") or {}).get("email")


def _intent_charge(intent: dict) -> dict | None:
    """The intent's charge when the event carries it (expanded, or in the older ``charges`` list)."""
    latest = intent.get("latest_charge")
    if isinstance(latest, dict):
        return latest
    charges = (intent.get("charges") or {}).get("data") or []
    return charges[0] if charges else None


def _facts(*, provider_id, status: str, minor, obj: dict, charge: dict | None, email, failure: dict) -> PaymentFacts:
    if not isinstance(provider_id, str) or not 0 < len(provider_id) <= 255:
        raise ValueError(f"invalid payment id {provider_id!r}")
    currency = str(obj.get("currency") or "usd").lower()
    if not CURRENCY_CODE.fullmatch(currency):
        raise ValueError(f"invalid currency {currency!r}")
    card = ((charge or {}).get("payment_method_details") or {}).get("card") or {}
    funding = card.get("funding")
    created = obj.get("created")
    return PaymentFacts(
        provider_id=provider_id,
        status=status,
        amount=amount_from_minor(minor, currency),
        currency=currency,
        email=normalize_email(email)[:254],
        card_type=funding if funding in Payment.CardType.values else Payment.CardType.UNKNOWN,
        card_fingerprint=str(card.get("fingerprint") or "")[:64],
        failure_code=str(failure.get("code") or "")[:100],
        failure_message=str(failure.get("message") or "")[:500],
        created_at=datetime.fromtimestamp(created, UTC) if isinstance(created, int) else timezone.now(),
    )


def _facts_from_intent(intent: dict, status: str) -> PaymentFacts:
    charge = _intent_charge(intent)
    return _facts(
        provider_id=intent.get("id"),
        status=status,
        minor=intent.get("amount_received") or intent.get("amount"),
        obj=intent,
        charge=charge,
        email=intent.get("receipt_email") or _billing_email(charge),
        failure=(intent.get("last_payment_error") or {}) if status == Payment.Status.FAILED else {},
    )


def _facts_from_charge(charge: dict) -> PaymentFacts:
    return _facts(
        provider_id=charge.get("payment_intent") or charge.get("id"),
        status=Payment.Status.REFUNDED,
        minor=charge.get("amount"),
        obj=charge,
        charge=charge,
        email=charge.get("receipt_email") or _billing_email(charge),
        failure={},
    )


def _payment_apply(facts: PaymentFacts) -> Payment:
    """Create the payment, or move it forward; an event for an older state changes nothing."""
    payment = Payment.objects.select_for_update().filter(provider_id=facts.provider_id).first()
    if payment is None:
        try:
            with transaction.atomic():
                return Payment.objects.create(**asdict(facts), updated_at=timezone.now())
        except IntegrityError:  # a concurrent first event for this payment inserted it first
            payment = Payment.objects.select_for_update().filter(provider_id=facts.provider_id).first()
            if payment is None:  # not that race: some other constraint failed
                raise
    if not status_advances(payment.status, facts.status):
        return payment
    payment.status = facts.status
    payment.amount = facts.amount
    payment.currency = facts.currency
    payment.failure_code = facts.failure_code
    payment.failure_message = facts.failure_message
    payment.email = facts.email or payment.email
    if facts.card_type != Payment.CardType.UNKNOWN:
        payment.card_type = facts.card_type
    payment.card_fingerprint = facts.card_fingerprint or payment.card_fingerprint
    payment.updated_at = timezone.now()
    payment.save()
    return payment


def payment_receipt_request(*, payment: Payment) -> bool:
    """Record that the payment's receipt is owed, once per payment; returns whether this call claimed it.

    An outbox: the claim (``receipt_requested_at``) is written in the caller's
    transaction, and only when that commits is the receipt task enqueued, by
    dotted path (payments never imports notifications). Nothing about the
    receipt (its email, its portal link, a broker being down) can fail or undo
    the payment; the email sweep creates any receipt still owed.
    """
    now = timezone.now()
    claimed = Payment.objects.filter(pk=payment.pk, receipt_requested_at__isnull=True).update(receipt_requested_at=now)
    if claimed != 1:
        return False
    payment.receipt_requested_at = now
    audit_event("payments", "receipt_requested", payment=payment.provider_id)
    transaction.on_commit(lambda: async_task("notifications.tasks.receipt_send", payment.pk), robust=True)
    return True


def _on_intent_succeeded(intent: dict) -> Payment:
    payment = _payment_apply(_facts_from_intent(intent, Payment.Status.SUCCEEDED))
    if payment.status == Payment.Status.SUCCEEDED:
        payment_receipt_request(payment=payment)
    return payment


def _on_intent_failed(intent: dict) -> Payment:
    return _payment_apply(_facts_from_intent(intent, Payment.Status.FAILED))


def _on_charge_refunded(charge: dict) -> Payment:
    return _payment_apply(_facts_from_charge(charge))


HANDLERS = {
    "payment_intent.succeeded": _on_intent_succeeded,
    "payment_intent.payment_failed": _on_intent_failed,
    "charge.refunded": _on_charge_refunded,
}


def _webhook_claim(*, event: dict, handled: bool) -> WebhookEvent | None:
    """Insert or lock the event's row and mark it; None when it is already handled."""
    status = WebhookEvent.Status.PROCESSED if handled else WebhookEvent.Status.IGNORED
    webhook = WebhookEvent.objects.select_for_update().filter(event_id=event["id"]).first()
    if webhook is None:
        try:
            with transaction.atomic():
                return WebhookEvent.objects.create(
                    event_id=event["id"], type=event["type"], payload=event, status=status, attempts=1
                )
        except IntegrityError:  # a concurrent delivery of the same event inserted it first
            return None
    if webhook.status == WebhookEvent.Status.PROCESSED or (
        webhook.status == WebhookEvent.Status.IGNORED and not handled
    ):
        return None
    webhook.status = status
    webhook.attempts += 1
    webhook.last_error = ""
    webhook.updated_at = timezone.now()
    webhook.save(update_fields=["status", "attempts", "last_error", "updated_at"])
    return webhook


def _webhook_fail(*, event: dict, error: str) -> None:
    with transaction.atomic():
        webhook, created = WebhookEvent.objects.select_for_update().get_or_create(
            event_id=event["id"],
            defaults={
                "type": event["type"],
                "payload": event,
                "status": WebhookEvent.Status.FAILED,
                "attempts": 1,
                "last_error": error,
            },
        )
        if not created:
            if webhook.status == WebhookEvent.Status.PROCESSED:  # a concurrent delivery succeeded
                return
            webhook.status = WebhookEvent.Status.FAILED
            webhook.attempts += 1
            webhook.last_error = error
            webhook.updated_at = timezone.now()
            webhook.save(update_fields=["status", "attempts", "last_error", "updated_at"])
        audit_event(
            "payments",
            "webhook_failed",
            event_id=webhook.event_id,
            type=webhook.type,
            attempts=webhook.attempts,
            error=error,
        )


def webhook_event_process(*, event: dict) -> str:
    """Apply one verified event at most once: ``processed``, ``ignored``, ``failed`` or ``duplicate``."""
    handler = HANDLERS.get(event["type"])
    try:
        with transaction.atomic():
            webhook = _webhook_claim(event=event, handled=handler is not None)
            if webhook is None:
                return DUPLICATE
            payment = handler(event["data"]["object"]) if handler else None
            audit_event(
                "payments",
                f"webhook_{webhook.status}",
                event_id=webhook.event_id,
                type=webhook.type,
                attempts=webhook.attempts,
                payment=payment.provider_id if payment else None,
                payment_status=payment.status if payment else None,
            )
            return webhook.status
    except Exception as exc:
        logger.exception("webhook event %s (%s) could not be processed", event["id"], event["type"])
        _webhook_fail(event=event, error=f"{type(exc).__name__}: {exc}"[:1000])
        return WebhookEvent.Status.FAILED


def webhook_event_reprocess(*, webhook: WebhookEvent) -> str:
    """Process a stored event again (admin, ``replay_webhooks``); rejected deliveries are ``skipped``."""
    if webhook.status == WebhookEvent.Status.REJECTED:
        return "skipped"
    return webhook_event_process(event=webhook.payload)


def webhook_reject(*, reason: str, detail: str, body: bytes, content_type: str) -> WebhookEvent:
    """Record a refused delivery: metadata only, never the unverified body."""
    webhook = WebhookEvent.objects.create(
        status=WebhookEvent.Status.REJECTED,
        attempts=1,
        last_error=detail[:1000],
        payload={
            "reason": reason,
            "content_type": content_type[:100],
            "bytes": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
        },
    )
    audit_event("payments", "webhook_rejected", webhook=webhook.pk, reason=reason, detail=detail[:200], bytes=len(body))
    return webhook


def _is_event(event) -> bool:
    return (
        isinstance(event, dict)
        and isinstance(event.get("id"), str)
        and 0 < len(event["id"]) <= 255
        and isinstance(event.get("type"), str)
        and 0 < len(event["type"]) <= 100
        and isinstance(event.get("data"), dict)
        and isinstance(event["data"].get("object"), dict)
    )


def stripe_webhook_receive(*, body: bytes, content_type: str, signature: str | None) -> tuple[str, str]:
    """Verify and process one delivery; returns the event id and its outcome.

    Raises ``ApiError`` after recording the rejection (415, or 400
    ``invalid_signature`` / ``malformed_request``), and 500 ``processing_failed``
    when the event failed, so that the provider delivers it again.
    """

    def refused(reason: str, detail: str, error: ApiError) -> ApiError:
        webhook_reject(reason=reason, detail=detail, body=body, content_type=content_type)
        return error

    if content_type.split(";")[0].strip().lower() != "application/json":
        raise refused(
            "unsupported_media_type",
            f"content type {content_type[:100]!r}",
            ApiError("Webhook bodies must be application/json.", code="unsupported_media_type", status_code=415),
        )
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise refused(
            "secret_not_configured",
            "STRIPE_WEBHOOK_SECRET is empty",
            ApiError("No webhook secret is configured; deliveries are refused.", code="invalid_signature"),
        )
    try:
        text = body.decode()
        stripe.WebhookSignature.verify_header(text, signature, secret, SIGNATURE_TOLERANCE_SECONDS)
    except (UnicodeDecodeError, stripe.SignatureVerificationError) as exc:
        raise refused(
            "invalid_signature",
            str(exc),
            ApiError("The Stripe-Signature header does not verify this body.", code="invalid_signature"),
        ) from None
    try:
        event = json.loads(text, parse_constant=reject_json_constant)
    except ValueError:
        event = None
    if not _is_event(event):
        raise refused(
            "malformed_event",
            "the signed body is not a Stripe event",
            ApiError("The body is not a Stripe event.", code="malformed_request"),
        )
    outcome = webhook_event_process(event=event)
    if outcome == WebhookEvent.Status.FAILED:
        raise ApiError(
            "The event could not be processed; it is recorded and will be processed again when redelivered.",
            code="processing_failed",
            status_code=500,
        )
    return event["id"], outcome
