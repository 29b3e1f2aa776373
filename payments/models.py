from django.db import models
from django.db.models import Q
from django.utils import timezone


class Payment(models.Model):
    """One payment of the ledger, keyed by the provider's id (``pi_...``).

    Status only moves forward: pending < failed < succeeded < refunded (see
    ``payments.rules.status_advances``), so a late event for an older state
    never overwrites a newer one. ``receipt_requested_at`` is set once, by the
    first successful claim of ``payment_receipt_request``.
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
    receipt_requested_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["email", "created_at"], name="payment_email_time"),
            models.Index(fields=["status", "created_at"], name="payment_status_time"),
            models.Index(fields=["created_at"], name="payment_time"),
        ]

    def __str__(self):
        return self.provider_id

    def clean(self):
        self.email = self.email.strip().lower()


class WebhookEvent(models.Model):
    """One delivery from the provider, stored to make processing idempotent.

    A verified event is stored under its ``event_id`` with its full payload:
    ``processed`` once its effect is applied, ``ignored`` when its type has no
    handler, ``failed`` (with ``last_error``) when applying it raised; a retry
    of a failed event processes it again. A delivery that fails verification
    is ``rejected``: it has no event id, and its payload holds only metadata
    (reason, size, hash of the body), never the unverified body.
    """

    class Status(models.TextChoices):
        PROCESSED = "processed"
        FAILED = "failed"
        IGNORED = "ignored"
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
