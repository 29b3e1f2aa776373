from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from echopilot.emails import valid_email


class Payment(models.Model):
    """One payment of the ledger, keyed by the provider's id (``pi_...``).

    Status only moves forward: pending < failed < succeeded < refunded (see
    ``payments.rules.status_advances``), so a late event for an older state
    never overwrites a newer one.

    Outcomes the fraud guard learns from: ``refund_reason`` (Stripe's, e.g.
    ``fraudulent``) from ``charge.refunded``, and ``disputed_at`` with
    ``dispute_reason`` from the first ``charge.dispute.created`` (a later
    dispute of the same payment changes neither).

    The receipt outbox: the first ``payment_receipt_request`` (in the webhook's
    transaction) sets ``receipt_requested_at`` once and ``receipt_owed``;
    ``payment_receipt_settle`` clears ``receipt_owed`` in the transaction that
    creates the receipt email (or finds there is no address to send it to). The
    email sweep reads the owed rows through a partial index that holds only them.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        FAILED = "failed"
        SUCCEEDED = "succeeded"
        REFUNDED = "refunded"

    class CardType(models.TextChoices):
        CREDIT = "credit"
        DEBIT = "debit"
        PREPAID = "prepaid"
        UNKNOWN = "unknown"

    provider_id = models.CharField(max_length=255, unique=True)
    email = models.EmailField(blank=True, help_text="Stored lowercase and trimmed.")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, default="usd", help_text="Lowercase ISO 4217 code.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    card_type = models.CharField(max_length=10, choices=CardType.choices, default=CardType.UNKNOWN)
    card_fingerprint = models.CharField(max_length=64, blank=True)
    failure_code = models.CharField(max_length=100, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    refund_reason = models.CharField(
        max_length=50, blank=True, help_text="Stripe's reason for the refund (fraudulent, duplicate, ...)."
    )
    disputed_at = models.DateTimeField(null=True, blank=True, help_text="When the first dispute was opened.")
    dispute_reason = models.CharField(max_length=50, blank=True, help_text="Stripe's reason for the dispute.")
    receipt_requested_at = models.DateTimeField(null=True, blank=True, editable=False)
    receipt_owed = models.BooleanField(
        default=False, editable=False, help_text="A receipt email is owed and not created yet."
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["email", "created_at"], name="payment_email_time"),
            models.Index(fields=["status", "created_at"], name="payment_status_time"),
            models.Index(fields=["created_at"], name="payment_time"),
            # The fraud guard's card-testing signal counts a card's declines of the past hour: only failed payments
            # with a fingerprint are in it (updated_at is when the payment failed).
            models.Index(
                fields=["card_fingerprint", "updated_at"],
                name="payment_card_declined",
                condition=Q(status="failed") & ~Q(card_fingerprint=""),
            ),
            # The email sweep's "receipts still owed" pass reads the owed rows every minute: a handful, not the week.
            models.Index(fields=["receipt_requested_at"], name="payment_receipt_owed", condition=Q(receipt_owed=True)),
        ]

    def __str__(self):
        return self.provider_id

    def clean(self):
        if self.email.strip():
            try:
                self.email = valid_email(self.email)
            except ValueError:
                raise ValidationError({"email": "Enter a valid email address (no control characters)."}) from None
        else:
            self.email = ""


class WebhookEvent(models.Model):
    """One verified event from the provider, stored to make processing idempotent.

    A verified event is stored under its ``event_id`` with its full payload:
    ``processed`` once its effect is applied, ``ignored`` when its type has no
    handler, ``failed`` (with ``last_error``) when applying it raised; a retry
    of a failed event processes it again. ``invalid`` (with the reason in
    ``last_error``) when it can never be processed (a negative, fractional,
    missing or too large amount, an unknown currency, a malformed id or email,
    a value of the wrong type): terminal, never processed again.

    ``rejected`` rows are refused deliveries from before refusals were counted
    in ``WebhookRejection``: no event id, only metadata (reason, size, hash of
    the body). Nothing writes new ones.
    """

    class Status(models.TextChoices):
        PROCESSED = "processed"
        FAILED = "failed"
        IGNORED = "ignored"
        INVALID = "invalid"
        REJECTED = "rejected"

    event_id = models.CharField(max_length=255, blank=True, help_text="Empty for rejected deliveries.")
    type = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at", "-id"]
        permissions = [("reprocess_webhookevent", "Can reprocess failed webhook events")]
        constraints = [
            models.UniqueConstraint(fields=["event_id"], condition=~Q(event_id=""), name="webhook_event_id_unique"),
        ]
        indexes = [
            models.Index(fields=["status", "received_at"], name="webhook_status_time"),
            models.Index(fields=["received_at"], name="webhook_time"),
        ]

    def __str__(self):
        return self.event_id or f"rejected #{self.pk}"


class WebhookRejection(models.Model):
    """Refused deliveries (no verifiable signature, not JSON, not an event), counted per reason and minute.

    A refused delivery is unauthenticated, so it neither pages anyone nor adds a
    row per request: the first refusal of a (reason, minute) inserts the row, each
    further one adds to its ``count`` under the row's lock. Only metadata of the
    latest body is kept (content type, size, SHA-256), never the body.
    """

    class Reason(models.TextChoices):
        UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
        SECRET_NOT_CONFIGURED = "secret_not_configured"  # noqa: S105 - a reason, not a secret
        INVALID_SIGNATURE = "invalid_signature"
        MALFORMED_EVENT = "malformed_event"

    reason = models.CharField(max_length=30, choices=Reason.choices)
    minute = models.DateTimeField(help_text="Start of the minute (UTC) the refusals fell in.")
    count = models.PositiveBigIntegerField(default=0)
    first_at = models.DateTimeField(default=timezone.now)
    last_at = models.DateTimeField(default=timezone.now)
    last_detail = models.CharField(max_length=200, blank=True)
    last_content_type = models.CharField(max_length=100, blank=True)
    last_bytes = models.PositiveIntegerField(default=0)
    last_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-minute", "reason"]
        constraints = [
            models.UniqueConstraint(fields=["reason", "minute"], name="webhook_rejection_reason_minute"),
        ]
        indexes = [models.Index(fields=["minute"], name="webhook_rejection_minute")]

    def __str__(self):
        return f"{self.reason} {self.minute:%Y-%m-%d %H:%M}: {self.count}"
