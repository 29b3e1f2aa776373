"""Payments: the ledger's writes, driven by Stripe's webhook events.

A delivery is verified first (HMAC over the raw body, 5 minutes tolerance
either way); a delivery that fails a check is counted in ``WebhookRejection``
(per reason and minute, metadata only). A verified event is processed in one
short transaction: insert-or-lock its row by event id, stop when it is already
handled, apply its effect to the payment, mark it. When applying raises, that
transaction rolls back and a second one records the event: ``invalid`` when
the event can never be processed (terminal), ``failed`` otherwise (a
redelivery processes it again).
"""

import hashlib
import logging
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from echopilot.audit import audit_event
from echopilot.emails import valid_email
from echopilot.exceptions import ApplicationError, Failed, Invalid, UnsupportedFormat
from echopilot.money import amount_from_minor, is_currency
from echopilot.parsers import json_loads
from payments.models import Payment, WebhookEvent, WebhookRejection
from payments.rules import status_advances
from payments.signals import receipt_owed

logger = logging.getLogger(__name__)

SIGNATURE_TOLERANCE_SECONDS = 300
DUPLICATE = "duplicate"
SKIPPED = "skipped"
EVENT_ID = re.compile(r"[A-Za-z0-9_]{1,255}")  # evt_...
EVENT_TYPE = re.compile(r"[a-z0-9_.]{1,100}")  # payment_intent.succeeded
# NUL and lone surrogates: JSON may carry them, no database text column stores them (PostgreSQL refuses both).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|d[89a-f])", re.IGNORECASE)
PAYMENT_ID = re.compile(r"pi_[A-Za-z0-9_]{1,252}")
FINGERPRINT = re.compile(r"[A-Za-z0-9_\-]{1,64}")
REASON = re.compile(r"[a-z_]{1,50}")  # Stripe's refund and dispute reasons: fraudulent, requested_by_customer, ...
FRAUDULENT = "fraudulent"
MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z


class InvalidEvent(Exception):
    """A verified event that can never be processed; the message says why (no secrets, no body)."""


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


_KINDS = {dict: "an object", list: "an array", str: "a string", int: "an integer"}


def _get(container: dict, key: str, kind: type, path: str):
    """``container[key]`` when it is of ``kind``, None when absent or null; ``InvalidEvent`` for any other type."""
    value = container.get(key)
    if value is None or (isinstance(value, kind) and not isinstance(value, bool)):
        return value
    raise InvalidEvent(f"{path}{key} must be {_KINDS[kind]}")


def _intent_charge(intent: dict) -> dict | None:
    """The intent's charge when the event carries it (expanded, or in the older ``charges`` list)."""
    latest = intent.get("latest_charge")
    if isinstance(latest, dict):
        return latest
    if latest is not None and not isinstance(latest, str):
        raise InvalidEvent("payment_intent.latest_charge must be a charge id or a charge")
    charges = _get(_get(intent, "charges", dict, "payment_intent.") or {}, "data", list, "payment_intent.charges.")
    if not charges:
        return None
    if not isinstance(charges[0], dict):
        raise InvalidEvent("payment_intent.charges.data must hold charges")
    return charges[0]


def _billing_email(charge: dict | None) -> str | None:
    details = _get(charge or {}, "billing_details", dict, "charge.") or {}
    return _get(details, "email", str, "charge.billing_details.")


def _facts(
    *, kind: str, provider_id, status: str, minor, obj: dict, charge: dict | None, email, failure: dict
) -> PaymentFacts:
    """Everything the event says about the payment, checked; ``InvalidEvent`` for anything that can never be right."""
    if not isinstance(provider_id, str) or not PAYMENT_ID.fullmatch(provider_id):
        raise InvalidEvent("the payment intent id is missing or malformed (expected pi_ and letters, digits, _)")
    currency = _get(obj, "currency", str, f"{kind}.")
    if currency is None or not is_currency(currency.lower()):
        raise InvalidEvent(f"{kind}.currency must be an ISO 4217 currency code")
    currency = currency.lower()
    if minor is None:
        raise InvalidEvent(f"{kind}.amount is missing")
    try:
        amount = amount_from_minor(minor, currency)
    except ValueError as exc:
        raise InvalidEvent(f"{kind}.{exc}") from None
    if email:
        try:
            email = valid_email(email)
        except ValueError:
            raise InvalidEvent("the customer email is not a valid address") from None
    details = _get(charge or {}, "payment_method_details", dict, "charge.") or {}
    card = _get(details, "card", dict, "charge.payment_method_details.") or {}
    funding = _get(card, "funding", str, "card.")
    fingerprint = _get(card, "fingerprint", str, "card.") or ""
    if fingerprint and not FINGERPRINT.fullmatch(fingerprint):
        raise InvalidEvent("card.fingerprint is malformed")
    created = _get(obj, "created", int, f"{kind}.")
    if created is not None and not 0 <= created <= MAX_TIMESTAMP:
        raise InvalidEvent(f"{kind}.created is not a time")
    return PaymentFacts(
        provider_id=provider_id,
        status=status,
        amount=amount,
        currency=currency,
        email=email or "",
        card_type=funding if funding in Payment.CardType.values else Payment.CardType.UNKNOWN,
        card_fingerprint=fingerprint,
        failure_code=(_get(failure, "code", str, "last_payment_error.") or "")[:100],
        failure_message=(_get(failure, "message", str, "last_payment_error.") or "")[:500],
        created_at=datetime.fromtimestamp(created, UTC) if created is not None else timezone.now(),
    )


def _facts_from_intent(intent: dict, status: str) -> PaymentFacts:
    charge = _intent_charge(intent)
    received = _get(intent, "amount_received", int, "payment_intent.")
    failure = _get(intent, "last_payment_error", dict, "payment_intent.") if status == Payment.Status.FAILED else None
    return _facts(
        kind="payment_intent",
        provider_id=intent.get("id"),
        status=status,
        minor=received or _get(intent, "amount", int, "payment_intent."),
        obj=intent,
        charge=charge,
        email=_get(intent, "receipt_email", str, "payment_intent.") or _billing_email(charge),
        failure=failure or {},
    )


def _facts_from_charge(charge: dict) -> PaymentFacts:
    """A refunded charge: its payment intent is the ledger's key; a charge without one is not in the ledger."""
    if charge.get("payment_intent") is None:
        raise InvalidEvent("the charge has no payment_intent, so no payment of the ledger is refunded")
    return _facts(
        kind="charge",
        provider_id=charge.get("payment_intent"),
        status=Payment.Status.REFUNDED,
        minor=_get(charge, "amount", int, "charge."),
        obj=charge,
        charge=charge,
        email=_get(charge, "receipt_email", str, "charge.") or _billing_email(charge),
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

    An outbox: the claim (``receipt_requested_at`` and ``receipt_owed``) is
    written in the caller's transaction, and only when that commits is
    ``signals.receipt_owed`` sent; notifications, which owns receipts, listens
    (payments never names it). Nothing about the receipt (its email, its portal
    link, a broker being down) can fail or undo the payment; the email sweep
    creates any receipt still owed.
    """
    now = timezone.now()
    claimed = Payment.objects.filter(pk=payment.pk, receipt_requested_at__isnull=True).update(
        receipt_requested_at=now, receipt_owed=True
    )
    if claimed != 1:
        return False
    payment.receipt_requested_at, payment.receipt_owed = now, True
    audit_event("payments", "receipt_requested", payment=payment.provider_id)
    transaction.on_commit(lambda: receipt_owed.send_robust(sender=Payment, payment_id=payment.pk))
    return True


def payment_receipt_settle(*, payment: Payment) -> bool:
    """The payment owes no receipt any more; returns whether it did.

    Called by the receipt's owner in the transaction that creates the receipt
    email, or that finds the payment has no address to send one to.
    """
    settled = Payment.objects.filter(pk=payment.pk, receipt_owed=True).update(receipt_owed=False)
    payment.receipt_owed = False
    return settled == 1


def _on_intent_succeeded(intent: dict) -> Payment:
    payment = _payment_apply(_facts_from_intent(intent, Payment.Status.SUCCEEDED))
    if payment.status == Payment.Status.SUCCEEDED:
        payment_receipt_request(payment=payment)
    return payment


def _on_intent_failed(intent: dict) -> Payment:
    return _payment_apply(_facts_from_intent(intent, Payment.Status.FAILED))


def _reason(value, path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or not REASON.fullmatch(value):
        raise InvalidEvent(f"{path} must be a reason code (lowercase letters and _)")
    return value


def _refund_reason(charge: dict) -> str:
    """The refunds' reason: ``fraudulent`` when any refund says so, else the newest one's (Stripe lists newest first)."""
    refunds = _get(_get(charge, "refunds", dict, "charge.") or {}, "data", list, "charge.refunds.") or []
    reasons = []
    for refund in refunds:
        if not isinstance(refund, dict):
            raise InvalidEvent("charge.refunds.data must hold refunds")
        reasons.append(_reason(refund.get("reason"), "charge.refunds.data[].reason"))
    reasons = [reason for reason in reasons if reason]
    return FRAUDULENT if FRAUDULENT in reasons else (reasons[0] if reasons else "")


def _on_charge_refunded(charge: dict) -> Payment:
    reason = _refund_reason(charge)
    payment = _payment_apply(_facts_from_charge(charge))
    # Kept also when the status did not move (a second partial refund); a fraudulent one is never overwritten.
    if reason and payment.refund_reason != reason and payment.refund_reason != FRAUDULENT:
        payment.refund_reason = reason
        payment.save(update_fields=["refund_reason"])
    return payment


class PaymentNotInLedger(Exception):
    """An event about a payment the ledger does not hold yet: ``failed``, so a redelivery or replay applies it."""


def _on_dispute_created(dispute: dict) -> Payment:
    """Mark the payment disputed, once: a later dispute (or a redelivery) keeps the first time and reason."""
    provider_id = dispute.get("payment_intent")
    if provider_id is None:
        raise InvalidEvent("the dispute has no payment_intent, so no payment of the ledger is disputed")
    if not isinstance(provider_id, str) or not PAYMENT_ID.fullmatch(provider_id):
        raise InvalidEvent("the payment intent id is missing or malformed (expected pi_ and letters, digits, _)")
    reason = _reason(dispute.get("reason"), "dispute.reason")
    created = _get(dispute, "created", int, "dispute.")
    if created is not None and not 0 <= created <= MAX_TIMESTAMP:
        raise InvalidEvent("dispute.created is not a time")
    payment = Payment.objects.select_for_update().filter(provider_id=provider_id).first()
    if payment is None:
        raise PaymentNotInLedger(f"no payment {provider_id} in the ledger yet")
    if payment.disputed_at is None:
        payment.disputed_at = datetime.fromtimestamp(created, UTC) if created is not None else timezone.now()
        payment.dispute_reason = reason
        payment.updated_at = timezone.now()
        payment.save(update_fields=["disputed_at", "dispute_reason", "updated_at"])
        audit_event("payments", "payment_disputed", payment=payment.provider_id, reason=reason)
    return payment


HANDLERS = {
    "payment_intent.succeeded": _on_intent_succeeded,
    "payment_intent.payment_failed": _on_intent_failed,
    "charge.refunded": _on_charge_refunded,
    "charge.dispute.created": _on_dispute_created,
}


def _webhook_claim(*, event: dict, handled: bool) -> WebhookEvent | None:
    """Insert or lock the event's row and mark it; None when it is already handled (or can never be)."""
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
    if webhook.status in (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.INVALID) or (
        webhook.status == WebhookEvent.Status.IGNORED and not handled
    ):
        return None
    webhook.status = status
    webhook.attempts += 1
    webhook.last_error = ""
    webhook.updated_at = timezone.now()
    webhook.save(update_fields=["status", "attempts", "last_error", "updated_at"])
    return webhook


def _webhook_unprocessed(*, event: dict, status: str, error: str) -> None:
    """Record that applying the event did not succeed: ``failed`` (to try again) or ``invalid`` (never)."""
    with transaction.atomic():
        webhook, created = WebhookEvent.objects.select_for_update().get_or_create(
            event_id=event["id"],
            defaults={"type": event["type"], "payload": event, "status": status, "attempts": 1, "last_error": error},
        )
        if not created:
            if webhook.status in (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.INVALID):
                return  # a concurrent delivery finished it
            webhook.status = status
            webhook.attempts += 1
            webhook.last_error = error
            webhook.updated_at = timezone.now()
            webhook.save(update_fields=["status", "attempts", "last_error", "updated_at"])
        audit_event(
            "payments",
            f"webhook_{status}",
            event_id=webhook.event_id,
            type=webhook.type,
            attempts=webhook.attempts,
            error=error,
        )


def webhook_event_process(*, event: dict) -> str:
    """Apply one verified event at most once: ``processed``, ``ignored``, ``invalid``, ``failed`` or ``duplicate``."""
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
    except InvalidEvent as exc:
        _webhook_unprocessed(event=event, status=WebhookEvent.Status.INVALID, error=str(exc)[:1000])
        return WebhookEvent.Status.INVALID
    except Exception as exc:
        logger.exception("webhook event %s (%s) could not be processed", event["id"], event["type"])
        _webhook_unprocessed(
            event=event, status=WebhookEvent.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:1000]
        )
        return WebhookEvent.Status.FAILED


def webhook_event_reprocess(*, webhook: WebhookEvent) -> str:
    """Process a stored event again (admin, ``replay_webhooks``, self-heal); invalid and rejected ones are ``skipped``."""
    if webhook.status in (WebhookEvent.Status.INVALID, WebhookEvent.Status.REJECTED):
        return SKIPPED
    return webhook_event_process(event=webhook.payload)


def _logged_count(count: int) -> bool:
    """Refusals written to the audit log: the 1st, 10th, 100th, ... of a (reason, minute)."""
    digits = str(count)
    return digits[0] == "1" and digits.count("0") == len(digits) - 1


def webhook_reject(*, reason: str, detail: str, body: bytes, content_type: str) -> WebhookRejection:
    """Count a refused delivery in its (reason, minute) row: metadata of the body only, never the body.

    The minute's first refusal inserts the row; every further one locks it and
    counts up. So any number of refusals adds at most one row per reason and
    minute, and an audit line only at counts 1, 10, 100, ...
    """
    now = timezone.now()
    minute = now.replace(second=0, microsecond=0)
    latest = {
        "last_at": now,
        "last_detail": detail[:200],
        "last_content_type": content_type[:100],
        "last_bytes": len(body),
        "last_sha256": hashlib.sha256(body).hexdigest(),
    }
    with transaction.atomic():
        rejection = WebhookRejection.objects.select_for_update().filter(reason=reason, minute=minute).first()
        inserted = False
        if rejection is None:
            try:
                with transaction.atomic():
                    rejection = WebhookRejection.objects.create(
                        reason=reason, minute=minute, count=1, first_at=now, **latest
                    )
                inserted = True
            except IntegrityError:  # a concurrent refusal inserted it first; count on its row
                rejection = WebhookRejection.objects.select_for_update().get(reason=reason, minute=minute)
        if not inserted:
            rejection.count += 1
            for field, value in latest.items():
                setattr(rejection, field, value)
            rejection.save(update_fields=["count", *latest])
        if _logged_count(rejection.count):
            audit_event(
                "payments",
                "webhook_rejected",
                rejection=rejection.pk,
                reason=reason,
                count=rejection.count,
                minute=minute,
                detail=detail[:200],
                bytes=len(body),
            )
    return rejection


def _is_event(event) -> bool:
    return (
        isinstance(event, dict)
        and isinstance(event.get("id"), str)
        and EVENT_ID.fullmatch(event["id"]) is not None
        and isinstance(event.get("type"), str)
        and EVENT_TYPE.fullmatch(event["type"]) is not None
        and isinstance(event.get("data"), dict)
        and isinstance(event["data"].get("object"), dict)
    )


def _storable(value):
    """``value`` with NUL and lone surrogates replaced by U+FFFD in every string (keys too)."""
    if isinstance(value, str):
        return UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_storable(item) for item in value]
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    return value


def _signature_time(header: str) -> int | None:
    """The ``t=`` of a Stripe-Signature header, read exactly as Stripe's library reads it (the first one)."""
    for item in header.split(","):
        parts = item.split("=", 2)
        if parts[0] == "t" and len(parts) > 1:
            try:
                return int(parts[1])
            except ValueError:
                return None
    return None


@dataclass(frozen=True)
class WebhookResult:
    event_id: str
    outcome: str
    reason: str = ""


def stripe_webhook_receive(*, body: bytes, content_type: str, signature: str | None) -> WebhookResult:
    """Verify and process one delivery; returns the event id and its outcome (with the reason when ``invalid``).

    Raises ``UnsupportedFormat`` or ``Invalid`` (``invalid_signature`` /
    ``malformed_request``) after counting the refusal, and ``Failed``
    (``processing_failed``) when the event failed, so that the provider delivers
    it again. An event
    that can never be processed is answered 200 ``invalid``: a non-2xx answer
    would only make the provider send it again for days.
    """

    def refused(reason: str, detail: str, error: ApplicationError) -> ApplicationError:
        webhook_reject(reason=reason, detail=detail, body=body, content_type=content_type)
        return error

    if content_type.split(";")[0].strip().lower() != "application/json":
        raise refused(
            WebhookRejection.Reason.UNSUPPORTED_MEDIA_TYPE,
            f"content type {content_type[:100]!r}",
            UnsupportedFormat("Webhook bodies must be application/json."),
        )
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise refused(
            WebhookRejection.Reason.SECRET_NOT_CONFIGURED,
            "STRIPE_WEBHOOK_SECRET is empty",
            Invalid("No webhook secret is configured; deliveries are refused.", code="invalid_signature"),
        )
    bad_signature = Invalid("The Stripe-Signature header does not verify this body.", code="invalid_signature")
    try:
        text = body.decode()
        stripe.WebhookSignature.verify_header(text, signature, secret, SIGNATURE_TOLERANCE_SECONDS)
    except (UnicodeDecodeError, stripe.SignatureVerificationError) as exc:
        raise refused(WebhookRejection.Reason.INVALID_SIGNATURE, str(exc), bad_signature) from None
    # Stripe's library only refuses timestamps that are too old; one from the future is refused the same way.
    signed_at = _signature_time(signature)
    if signed_at is None or signed_at > timezone.now().timestamp() + SIGNATURE_TOLERANCE_SECONDS:
        raise refused(WebhookRejection.Reason.INVALID_SIGNATURE, "Timestamp outside the tolerance zone", bad_signature)
    try:
        event = json_loads(text)
    except ValueError:
        event = None
    if UNSTORABLE_ESCAPE.search(text):  # only JSON escapes can put them in (the depth cap bounds the walk)
        event = _storable(event)
    if not _is_event(event):
        raise refused(
            WebhookRejection.Reason.MALFORMED_EVENT,
            "the signed body is not a Stripe event",
            Invalid("The body is not a Stripe event.", code="malformed_request"),
        )
    outcome = webhook_event_process(event=event)
    if outcome == WebhookEvent.Status.FAILED:
        raise Failed(
            "The event could not be processed; it is recorded and will be processed again when redelivered.",
            code="processing_failed",
        )
    reason = ""
    if outcome == WebhookEvent.Status.INVALID:
        reason = WebhookEvent.objects.filter(event_id=event["id"]).values_list("last_error", flat=True).first() or ""
    return WebhookResult(event_id=event["id"], outcome=outcome, reason=reason)
