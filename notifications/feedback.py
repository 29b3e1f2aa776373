"""Delivery feedback: the mail provider's tracking events (bounces, complaints) and the suppression list.

The provider's webhook reaches django-anymail's tracking view for
``EMAIL_WEBHOOK_PROVIDER`` (``notifications.views.email_tracking_webhook``), which
normalises the event and sends ``anymail.signals.tracking``; the receiver here
does not know the provider. Every event is one ``DeliveryFeedback`` row and one
``emails`` line; a replayed event (same provider and event id) changes nothing.
A hard bounce or a complaint puts the address on the suppression list
(``notifications.rules.suppression_reason``); soft bounces and deferrals are only
recorded, since the retry policy handles them.
"""

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from echopilot.audit import audit_event
from echopilot.emails import MAX_EMAIL_CHARS, valid_email
from notifications.models import DeliveryFeedback, Email, FeedbackOutcome, Suppression
from notifications.rules import event_digest, suppression_reason

DESCRIPTION_CHARS = 2000


def _text(value, chars: int) -> str:
    return str(value or "")[:chars]


def delivery_feedback_record(*, event, provider: str) -> tuple[DeliveryFeedback, bool]:
    """Record one normalised tracking event (``anymail.signals.AnymailTrackingEvent``); True when it is new."""
    provider = provider.lower()
    event_id = _text(event.event_id, 200) or event_digest(event.esp_event)
    existing = DeliveryFeedback.objects.filter(provider=provider, event_id=event_id).first()
    if existing:
        audit_event("emails", "feedback_replayed", provider=provider, event_id=event_id)
        return existing, False
    try:
        address = valid_email(_text(event.recipient, MAX_EMAIL_CHARS + 1))
    except ValueError:
        address = ""
    event_type = _text(event.event_type, 20)
    reject_reason = _text(event.reject_reason, 20)
    reason = suppression_reason(
        provider=provider, event_type=event_type, reject_reason=reject_reason, esp_event=event.esp_event
    )
    description = " — ".join(_text(part, DESCRIPTION_CHARS) for part in (event.description, event.mta_response) if part)
    message_id = _text(event.message_id, 255)
    try:
        with transaction.atomic():
            outcome = FeedbackOutcome.RECORDED
            if reason and address:
                _, created = Suppression.objects.get_or_create(
                    address=address,
                    defaults={
                        "reason": reason,
                        "provider": provider,
                        "event_id": event_id,
                        "description": description[:DESCRIPTION_CHARS],
                    },
                )
                outcome = FeedbackOutcome.SUPPRESSED if created else FeedbackOutcome.ALREADY
            feedback = DeliveryFeedback.objects.create(
                provider=provider,
                event_id=event_id,
                event_type=event_type,
                reject_reason=reject_reason,
                recipient=address or _text(event.recipient, MAX_EMAIL_CHARS),
                message_id=message_id,
                email=_email_of(message_id),
                description=description[:DESCRIPTION_CHARS],
                outcome=outcome,
                occurred_at=event.timestamp if _aware(event.timestamp) else None,
            )
            audit_event(
                "emails",
                "feedback",
                provider=provider,
                event_id=event_id,
                event_type=event_type,
                reject_reason=reject_reason or None,
                recipient=feedback.recipient,
                email=feedback.email.public_id if feedback.email else None,
                outcome=outcome,
            )
            if outcome == FeedbackOutcome.SUPPRESSED:
                audit_event("emails", "address_suppressed", address=address, reason=reason, event_id=event_id)
    except IntegrityError:  # the same event, delivered twice at once: the other delivery recorded it
        return DeliveryFeedback.objects.get(provider=provider, event_id=event_id), False
    return feedback, True


def _aware(value) -> bool:
    return isinstance(value, datetime) and timezone.is_aware(value)


def _email_of(message_id: str) -> Email | None:
    """Our email the provider's message id names, when it kept our Message-ID (with or without angle brackets)."""
    if not message_id:
        return None
    bare = message_id.strip("<>")
    return Email.objects.filter(message_id__in=[f"<{bare}>", bare]).first()


def suppression_remove(*, suppression: Suppression, by: str) -> None:
    """Take an address off the suppression list (it works again): mail to it is attempted from now on."""
    with transaction.atomic():
        deleted, _ = Suppression.objects.filter(pk=suppression.pk).delete()
        if deleted:
            audit_event(
                "emails",
                "address_unsuppressed",
                address=suppression.address,
                reason=suppression.reason,
                by=by,
            )
