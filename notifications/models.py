import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone

from notifications.rules import status_text


class Status(models.TextChoices):
    """Delivery state of an email or Telegram message.

    ``queued`` → ``sending`` (claimed by one worker) → ``sent``, or back to
    ``queued`` with a later ``next_attempt_at`` after a transient failure, or
    ``failed`` after a permanent one or the last attempt. A row left in
    ``sending`` by a worker that died goes back to ``queued`` after
    ``EMAIL_SENDING_TIMEOUT``. ``dry_run``: the channel is not configured;
    recorded, never sent. ``suppressed`` (emails only): every recipient is on
    the suppression list (``Suppression``); recorded, never attempted.
    """

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    DRY_RUN = "dry_run"
    SUPPRESSED = "suppressed"


class Kind(models.TextChoices):
    MANUAL = "manual"
    RECEIPT = "receipt"
    ALERT = "alert"
    REPORT = "report"


class ErrorType(models.TextChoices):
    TRANSIENT = "transient"
    PERMANENT = "permanent"


def _public_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def email_public_id() -> str:
    return _public_id("em_")


def telegram_public_id() -> str:
    return _public_id("tg_")


class Delivery(models.Model):
    """What emails and Telegram messages share: state, attempts, last error."""

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.MANUAL)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    error_type = models.CharField(max_length=10, choices=ErrorType.choices, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.public_id

    @property
    def status_text(self) -> str:
        """The status in plain words for people ("Dry run — SMTP not configured"); the API keeps ``status``."""
        return status_text(self.status, channel=self.CHANNEL)


class Email(Delivery):
    """One email, stored before it is delivered from the task queue (see ``Status``).

    A receipt's body and HTML hold ``notifications.links.PORTAL_LINK_PLACEHOLDER``
    where its portal link goes; the link is created for ``portal_link_for`` and
    put in only in the message handed to SMTP, so no stored row holds a working link.
    """

    CHANNEL = "email"

    public_id = models.CharField(max_length=30, unique=True, default=email_public_id, editable=False)
    to = models.JSONField(default=list, help_text="Normalised addresses (trimmed, domain lowercased).")
    subject = models.CharField(max_length=998)
    body = models.TextField()
    html = models.TextField(blank=True)
    message_id = models.CharField(max_length=255, unique=True)
    payment = models.ForeignKey(
        "payments.Payment", null=True, blank=True, on_delete=models.SET_NULL, related_name="emails"
    )
    idempotency_key = models.CharField(max_length=255, blank=True)
    request_fingerprint = models.CharField(
        max_length=64,
        blank=True,
        editable=False,
        help_text="SHA-256 of the API request this email was created from; a reused Idempotency-Key must match it.",
    )
    created_by = models.CharField(max_length=200, blank=True)
    portal_link_for = models.CharField(
        max_length=254,
        blank=True,
        help_text="Receipts: the address a portal link is created for when the email is handed to SMTP "
        "(it replaces the placeholder in the body; the link itself is never stored). Blank: no link.",
    )
    suppressed_to = models.JSONField(
        default=list,
        blank=True,
        help_text="Recipients left out because they are on the suppression list (all of them: status suppressed).",
    )

    class Meta(Delivery.Meta):
        permissions = [("resend_email", "Can requeue and resend emails")]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"], condition=~Q(idempotency_key=""), name="email_idempotency_key_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="email_due"),
            models.Index(fields=["created_at"], name="email_time"),
        ]


class TelegramMessage(Delivery):
    """One Telegram message (one part of a long text), stored before it is delivered."""

    CHANNEL = "telegram"

    public_id = models.CharField(max_length=30, unique=True, default=telegram_public_id, editable=False)
    chat_id = models.CharField(max_length=100, blank=True)
    text = models.TextField(help_text="HTML (parse_mode=HTML), at most 4096 characters.")
    telegram_message_id = models.BigIntegerField(null=True, blank=True)
    buttons = models.JSONField(
        default=list, blank=True, help_text="Inline buttons under the message: rows of [label, callback_data]."
    )
    # A press that changes the message (``ButtonAnswer.text``/``buttons``) changes ``text`` and ``buttons`` here
    # first and bumps ``revision``; ``edit_due`` stays set until Telegram shows that revision (editMessageText).
    revision = models.PositiveIntegerField(default=0, help_text="Changes made by button presses.")
    edit_due = models.BooleanField(
        default=False, help_text="Telegram still shows an older text or buttons; the sweep edits the message."
    )
    edit_attempts = models.PositiveIntegerField(default=0)
    edit_error = models.TextField(blank=True, help_text="Why the last edit of the message in Telegram failed.")
    edited_at = models.DateTimeField(null=True, blank=True, help_text="When Telegram last took an edit.")

    class Meta(Delivery.Meta):
        verbose_name = "Telegram message"
        permissions = [("requeue_telegrammessage", "Can requeue Telegram messages")]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="telegram_due"),
            models.Index(fields=["created_at"], name="telegram_time"),
            models.Index(fields=["telegram_message_id"], name="telegram_message_id"),
            models.Index(fields=["id"], condition=Q(edit_due=True), name="telegram_edit_due"),
        ]


class UpdateOutcome(models.TextChoices):
    """What became of an authentic update from Telegram (the secret matched).

    ``acted``: a receiver of ``notifications.signals.telegram_button`` handled the press; ``ignored``: nobody
    did (the button no longer does anything); ``refused``: not from an allowed chat or user, or not one of our
    buttons (``reason`` says which); ``failed``: the receiver raised (nothing it wrote was kept).
    """

    ACTED = "acted", "Acted on"
    IGNORED = "ignored", "No one handles it"
    REFUSED = "refused", "Refused"
    FAILED = "failed", "Failed"


class TelegramUpdate(models.Model):
    """One update Telegram posted to ``/api/telegram/webhook`` with the right secret: a press of an inline button.

    ``update_id`` is unique, so a replayed or retried update is recorded, and acted on, once.
    ``answered_at``/``answer_error`` say whether the notice reached the person who pressed.
    """

    update_id = models.BigIntegerField(unique=True)
    kind = models.CharField(max_length=40, help_text="The update's type: callback_query, message, ...")
    chat_id = models.CharField(max_length=40, blank=True)
    user_id = models.CharField(max_length=40, blank=True)
    telegram_message_id = models.BigIntegerField(null=True, blank=True)
    message = models.ForeignKey(
        TelegramMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="updates"
    )
    callback_data = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=64, blank=True)
    target = models.CharField(max_length=64, blank=True)
    by = models.CharField(max_length=60, blank=True)
    outcome = models.CharField(max_length=10, choices=UpdateOutcome.choices)
    reason = models.CharField(max_length=300, blank=True, help_text="Why it was refused or failed.")
    notice = models.CharField(max_length=200, blank=True, help_text="What Telegram showed the person who pressed.")
    answered_at = models.DateTimeField(null=True, blank=True)
    answer_error = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "Telegram update"
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["received_at"], name="telegram_update_time")]

    def __str__(self):
        return f"update {self.update_id}"


class SuppressionReason(models.TextChoices):
    BOUNCED = "bounced", "Hard bounce"
    COMPLAINED = "complained", "Spam complaint"


class Suppression(models.Model):
    """An address no email is sent to any more: it bounced hard or its owner complained.

    Written by the mail provider's tracking webhook (``DeliveryFeedback``); an
    operator removes it in the admin (audited) when the address works again.
    """

    address = models.CharField(max_length=254, unique=True, help_text="Normalised (trimmed, lowercased).")
    reason = models.CharField(max_length=10, choices=SuppressionReason.choices)
    provider = models.CharField(max_length=40, blank=True)
    event_id = models.CharField(max_length=200, blank=True, help_text="The provider's id of the event.")
    description = models.TextField(blank=True, help_text="What the provider said (its description and reply).")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["created_at"], name="suppression_time")]

    def __str__(self):
        return self.address


class FeedbackOutcome(models.TextChoices):
    SUPPRESSED = "suppressed", "Address suppressed"
    ALREADY = "already", "Address already suppressed"
    RECORDED = "recorded", "Recorded only"


class DeliveryFeedback(models.Model):
    """One tracking event from the mail provider's webhook (bounce, complaint, delivery, deferral, ...).

    ``event_id`` is the provider's id, or ``sha256:`` and the digest of the event's
    raw payload when the provider gives none, so a replayed event is stored once.
    """

    provider = models.CharField(max_length=40)
    event_id = models.CharField(max_length=200)
    event_type = models.CharField(max_length=20, help_text="anymail's normalised type: bounced, deferred, ...")
    reject_reason = models.CharField(max_length=20, blank=True)
    recipient = models.CharField(max_length=254, blank=True)
    message_id = models.CharField(max_length=255, blank=True, help_text="The provider's id of the message.")
    email = models.ForeignKey(Email, null=True, blank=True, on_delete=models.SET_NULL, related_name="feedback")
    description = models.TextField(blank=True)
    outcome = models.CharField(max_length=10, choices=FeedbackOutcome.choices)
    occurred_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "delivery feedback event"
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="delivery_feedback_event_unique"),
        ]
        indexes = [models.Index(fields=["received_at"], name="delivery_feedback_time")]

    def __str__(self):
        return f"{self.event_type} {self.recipient}"
