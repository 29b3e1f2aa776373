"""Notifications: every message is stored first, then delivered from the task queue.

A row is written (``queued``, or ``dry_run`` when its channel is not
configured) and its delivery enqueued when the transaction commits; the
periodic sweeps deliver whatever is due, so nothing depends on one enqueue
surviving (a failed enqueue, the broker being down, is logged and never fails
the caller). A worker claims a row with a conditional update
(``queued`` → ``sending``), so no two workers send the same row; the outcome
is recorded with another conditional update, outside any transaction, after
the channel answered. Every transition is one NDJSON event (never a body,
never a credential).
"""

import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from email.utils import make_msgid

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone
from django_q.tasks import async_task

from echopilot.audit import audit_event
from echopilot.errors import ApiError
from notifications.channels import (
    DeliveryError,
    SmtpChannel,
    TelegramChannel,
    smtp_configured,
    telegram_configured,
)
from notifications.models import Email, ErrorType, Kind, Status, TelegramMessage
from notifications.rules import (
    format_amount,
    header_safe,
    normalize_address,
    retry_delay_seconds,
    telegram_split,
    telegram_text,
)
from notifications.selectors import email_due_ids, telegram_due_ids
from payments.models import Payment

STUCK_ERROR = "the worker stopped while sending (requeued after EMAIL_SENDING_TIMEOUT)"


def _event(row: Email | TelegramMessage, event: str) -> None:
    common = {
        "id": row.public_id,
        "kind": row.kind,
        "status": row.status,
        "attempt": row.attempts,
        "error": row.last_error or None,
    }
    if isinstance(row, Email):
        audit_event("emails", event, to=row.to, subject=row.subject, **common)
    else:
        audit_event("telegram", event, chat=row.chat_id, telegram_message_id=row.telegram_message_id, **common)


# --- Writing messages ---------------------------------------------------------


def email_send(
    *,
    to: list[str],
    subject: str,
    body: str,
    html: str = "",
    kind: str = Kind.MANUAL,
    payment: Payment | None = None,
    idempotency_key: str = "",
    request_fingerprint: str = "",
    created_by: str = "",
) -> tuple[Email, bool]:
    """Store an email and queue its delivery (a dry run when SMTP is not configured).

    ``to`` must already be normalised (``rules.normalize_address``). With an
    ``idempotency_key`` used before, nothing is written and the earlier email
    is returned; the second value says whether this call created the email.
    With a ``request_fingerprint`` (API callers' keys) the earlier email must
    have come from the same request: another one is refused with 409
    ``idempotency_key_reused``, as Stripe does.
    """
    if idempotency_key:
        existing = Email.objects.filter(idempotency_key=idempotency_key).first()
        if existing:
            return _same_request(existing, request_fingerprint), False
    try:
        with transaction.atomic():
            email = Email.objects.create(
                to=to,
                subject=subject,
                body=body,
                html=html,
                kind=kind,
                payment=payment,
                idempotency_key=idempotency_key,
                request_fingerprint=request_fingerprint if idempotency_key else "",
                created_by=created_by,
                status=Status.QUEUED if smtp_configured() else Status.DRY_RUN,
                message_id=make_msgid(domain=settings.SMTP_FROM.rpartition("@")[2]),
            )
            _event(email, email.status)
            if email.status == Status.QUEUED:
                transaction.on_commit(lambda: async_task("notifications.tasks.email_deliver", email.pk), robust=True)
    except IntegrityError:
        if not idempotency_key:
            raise
        # A concurrent call with the same key won.
        return _same_request(Email.objects.get(idempotency_key=idempotency_key), request_fingerprint), False
    return email, True


def _same_request(email: Email, request_fingerprint: str) -> Email:
    """The email stored under a reused key, when the request is the same (or there is nothing to compare)."""
    if request_fingerprint and email.request_fingerprint and email.request_fingerprint != request_fingerprint:
        raise ApiError(
            "This Idempotency-Key was used with a different request; use a new key for a new email.",
            code="idempotency_key_reused",
            status_code=409,
        )
    return email


def _receipt_content(*, to: str, amount: Decimal, currency: str, payment_id: str, date) -> dict:
    """Subject and bodies of a receipt, with a fresh link to the customer portal."""
    from portal.services import portal_link_create  # portal imports this module to resend receipts

    _, portal_path = portal_link_create(
        email=to, created_by="system:receipt", expiry_hours=settings.PORTAL_MAX_EXPIRY_HOURS
    )
    context = {
        "amount": format_amount(amount, currency),
        "payment_id": payment_id,
        "date": date,
        "portal_url": settings.PUBLIC_BASE_URL + portal_path,
    }
    return {
        "subject": f"Your receipt for {context['amount']}",
        "body": render_to_string("emails/receipt.txt", context),
        "html": render_to_string("emails/receipt.html", context),
    }


def send_payment_receipt(
    email: str, amount: Decimal, currency: str, payment_id: str, *, payment: Payment
) -> Email | None:
    """Queue the receipt of one payment, once: a second call for the same payment returns the first email.

    Without a valid address nothing is queued (None) and the skip is an event, so a
    payment without an email never fails the webhook that asked for its receipt.
    """
    try:
        to = normalize_address(email)
    except ValueError:
        audit_event("emails", "receipt_skipped", payment=payment_id, reason="no valid email address")
        return None
    idempotency_key = f"receipt:{payment_id}"
    existing = Email.objects.filter(idempotency_key=idempotency_key).first()
    if existing:  # checked before email_send too, so a repeated call issues no portal link
        return existing
    content = _receipt_content(
        to=to,
        amount=amount,
        currency=currency,
        payment_id=payment_id,
        date=payment.created_at,
    )
    receipt, _ = email_send(to=[to], **content, kind=Kind.RECEIPT, payment=payment, idempotency_key=idempotency_key)
    return receipt


def receipt_resend(*, payment: Payment, created_by: str = "") -> Email:
    """Queue the receipt of ``payment`` again: every call is a new email (the customer asked for it).

    Raises ``ValueError`` when the payment has no valid email address.
    """
    to = normalize_address(payment.email)
    content = _receipt_content(
        to=to, amount=payment.amount, currency=payment.currency, payment_id=payment.provider_id, date=payment.created_at
    )
    email, _ = email_send(to=[to], **content, kind=Kind.RECEIPT, payment=payment, created_by=created_by)
    return email


def telegram_send(*, kind: str, subject: str, text: str) -> list[TelegramMessage]:
    """Store a message to the configured chat (several when longer than 4096 characters) and queue it."""
    status = Status.QUEUED if telegram_configured() else Status.DRY_RUN
    parts = telegram_split(telegram_text(subject, text))
    with transaction.atomic():
        messages = [
            TelegramMessage.objects.create(chat_id=settings.TELEGRAM_CHAT_ID, text=part, kind=kind, status=status)
            for part in parts
        ]
        for message in messages:
            _event(message, status)
        if status == Status.QUEUED:
            transaction.on_commit(lambda: async_task("notifications.tasks.telegram_sweep"), robust=True)
    return messages


@dataclass(frozen=True)
class Notified:
    email: Email | None
    telegram: list[TelegramMessage]


def notify(kind: str, subject: str, text: str) -> Notified:
    """Send an alert or report to every configured channel: ``ALERT_EMAIL_TO`` and the Telegram chat.

    ``kind`` is one of ``Kind`` (alert, report, ...); an unknown one is a ``ValueError``.
    The addresses were validated when the settings were read.
    """
    if kind not in Kind.values:
        raise ValueError(f"unknown kind {kind!r}")
    subject = header_safe(subject)[:998]  # one line, nothing a header may not carry
    with transaction.atomic():
        email = None
        if settings.ALERT_EMAIL_TO:
            email, _ = email_send(
                to=[normalize_address(address) for address in settings.ALERT_EMAIL_TO],
                subject=subject,
                body=text,
                kind=kind,
            )
        return Notified(email=email, telegram=telegram_send(kind=kind, subject=subject, text=text))


# --- Delivering ---------------------------------------------------------------


def _claim(model, pk: int):
    """Take a due queued row for this worker (``sending``); None when another worker has it or it is not due."""
    now = timezone.now()
    claimed = model.objects.filter(pk=pk, status=Status.QUEUED, next_attempt_at__lte=now).update(
        status=Status.SENDING, attempts=F("attempts") + 1, claimed_at=now
    )
    if claimed != 1:
        return None
    row = model.objects.get(pk=pk)
    _event(row, "sending")
    return row


def _record(row, status: str, **fields) -> None:
    if type(row).objects.filter(pk=row.pk, status=Status.SENDING).update(status=status, **fields):
        row.status = status
        for name, value in fields.items():
            setattr(row, name, value)
        _event(row, status)


def _record_sent(row, **fields) -> None:
    _record(row, Status.SENT, sent_at=timezone.now(), last_error="", error_type="", **fields)


def _record_failure(row, error: DeliveryError) -> str:
    """Back to the queue with backoff after a transient failure, ``failed`` otherwise; returns the outcome."""
    error_fields = {
        "last_error": str(error),
        "error_type": ErrorType.PERMANENT if error.permanent else ErrorType.TRANSIENT,
    }
    if error.permanent or row.attempts >= settings.EMAIL_MAX_ATTEMPTS:
        _record(row, Status.FAILED, **error_fields)
        return "failed"
    delay = error.retry_after or retry_delay_seconds(row.attempts, settings.EMAIL_RETRY_BASE_SECONDS)
    _record(row, Status.QUEUED, next_attempt_at=timezone.now() + timedelta(seconds=delay), **error_fields)
    return "retry"


def _email_deliver(pks: list[int]) -> Counter:
    outcomes = Counter()
    if not smtp_configured():  # queued emails wait until SMTP is configured again
        return outcomes
    with SmtpChannel() as channel:
        for pk in pks:
            email = _claim(Email, pk)
            if email is None:
                continue
            try:
                channel.open()
            except DeliveryError as error:
                outcomes[_record_failure(email, error)] += 1
                break  # the server cannot be reached: the rest stay queued, untouched, for the next pass
            try:
                channel.send(
                    to=email.to, subject=email.subject, body=email.body, html=email.html, message_id=email.message_id
                )
            except DeliveryError as error:
                outcomes[_record_failure(email, error)] += 1
            else:
                _record_sent(email)
                outcomes["sent"] += 1
    return outcomes


def email_deliver(*, email_id: int) -> Counter:
    """Deliver one email if it is still queued and due."""
    return _email_deliver([email_id])


def email_deliver_due(*, limit: int = 200) -> Counter:
    """Deliver up to ``limit`` due emails over one SMTP connection."""
    return _email_deliver(email_due_ids(limit=limit))


def _requeue_stuck(model) -> Counter:
    """Rows left in ``sending`` by a worker that died: back to the queue (``failed`` after the last attempt)."""
    outcomes = Counter()
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.EMAIL_SENDING_TIMEOUT)
    for row in model.objects.filter(status=Status.SENDING, claimed_at__lt=cutoff):
        status = Status.FAILED if row.attempts >= settings.EMAIL_MAX_ATTEMPTS else Status.QUEUED
        fields = {
            "status": status,
            "next_attempt_at": now,
            "last_error": STUCK_ERROR,
            "error_type": ErrorType.TRANSIENT,
        }
        if model.objects.filter(pk=row.pk, status=Status.SENDING, claimed_at=row.claimed_at).update(**fields):
            for name, value in fields.items():
                setattr(row, name, value)
            _event(row, "requeued" if status == Status.QUEUED else "failed")
            outcomes["requeued" if status == Status.QUEUED else "failed"] += 1
    return outcomes


def email_sweep(*, limit: int = 200) -> Counter:
    """The periodic pass: requeue stuck emails, then deliver what is due."""
    return _requeue_stuck(Email) + email_deliver_due(limit=limit)


def telegram_sweep(*, limit: int = 50) -> Counter:
    """Requeue stuck messages, then deliver what is due, in order, at most one a second per chat.

    ``limit`` keeps one pass (about a second per message to one chat) well under the task timeout.

    After a 429 the chat's queued messages all wait for ``retry_after``, so parts keep their order.
    """
    outcomes = _requeue_stuck(TelegramMessage)
    if not telegram_configured():
        return outcomes
    channel = TelegramChannel()
    last_sent: dict[str, float] = {}
    for pk in telegram_due_ids(limit=limit):
        message = _claim(TelegramMessage, pk)
        if message is None:
            continue
        wait = last_sent.get(message.chat_id, 0) + settings.TELEGRAM_CHAT_INTERVAL_SECONDS - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        try:
            telegram_id = channel.send(chat_id=message.chat_id, text=message.text)
        except DeliveryError as error:
            outcomes[_record_failure(message, error)] += 1
            if error.retry_after and message.status == Status.QUEUED:
                # The chat's other messages wait as long (so they are not claimed in this pass either).
                TelegramMessage.objects.filter(
                    chat_id=message.chat_id, status=Status.QUEUED, next_attempt_at__lt=message.next_attempt_at
                ).update(next_attempt_at=message.next_attempt_at)
        else:
            _record_sent(message, telegram_message_id=telegram_id)
            outcomes["sent"] += 1
        last_sent[message.chat_id] = time.monotonic()
    return outcomes


# --- Operators (admin) ------------------------------------------------------------


def _requeue(row) -> bool:
    now = timezone.now()
    fields = {"status": Status.QUEUED, "attempts": 0, "next_attempt_at": now, "last_error": "", "error_type": ""}
    if not type(row).objects.filter(pk=row.pk, status=Status.FAILED).update(**fields):
        return False
    for name, value in fields.items():
        setattr(row, name, value)
    _event(row, "requeued")
    return True


def email_requeue(*, email: Email) -> bool:
    """A failed email back to the queue with fresh attempts; False when it was not failed."""
    requeued = _requeue(email)
    if requeued:
        transaction.on_commit(lambda: async_task("notifications.tasks.email_deliver", email.pk), robust=True)
    return requeued


def email_resend(*, email: Email, created_by: str = "") -> Email:
    """A new email with the same recipients and content (and a new Message-ID)."""
    copy, _ = email_send(
        to=email.to,
        subject=email.subject,
        body=email.body,
        html=email.html,
        kind=email.kind,
        payment=email.payment,
        created_by=created_by,
    )
    return copy


def telegram_requeue(*, message: TelegramMessage) -> bool:
    """A failed Telegram message back to the queue with fresh attempts; False when it was not failed."""
    requeued = _requeue(message)
    if requeued:
        transaction.on_commit(lambda: async_task("notifications.tasks.telegram_sweep"), robust=True)
    return requeued
