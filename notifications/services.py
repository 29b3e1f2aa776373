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

import logging
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import escape
from django_q.tasks import async_task

from echopilot.audit import audit_event
from echopilot.emails import valid_email
from echopilot.exceptions import Conflict
from echopilot.money import money_format
from notifications import sendrate
from notifications.buttons import telegram_edits_send
from notifications.channels import (
    DeliveryError,
    SmtpChannel,
    TelegramChannel,
    smtp_configured,
    telegram_configured,
)
from notifications.links import PORTAL_LINK_PLACEHOLDER, mint_link
from notifications.models import Email, ErrorType, Kind, Status, TelegramMessage
from notifications.rules import header_safe, retry_delay_seconds, telegram_split, telegram_text
from notifications.selectors import email_due_ids, payments_owing_receipt, suppressed_addresses, telegram_due_ids
from payments.models import Payment
from payments.services import payment_receipt_settle

STUCK_ERROR = "the worker stopped while sending (requeued after EMAIL_SENDING_TIMEOUT)"
logger = logging.getLogger(__name__)

RECEIPT_OWED_DAYS = 7  # the sweep creates receipts still owed that were claimed this recently


def _event(row: Email | TelegramMessage, event: str) -> None:
    common = {
        "id": row.public_id,
        "kind": row.kind,
        "status": row.status,
        "attempt": row.attempts,
        "error": row.last_error or None,
    }
    if isinstance(row, Email):
        if row.suppressed_to:
            common["suppressed_to"] = row.suppressed_to
        audit_event("emails", event, to=row.to, subject=row.subject, **common)
    else:
        audit_event("telegram", event, chat=row.chat_id, telegram_message_id=row.telegram_message_id, **common)


# --- Writing messages ---------------------------------------------------------


def _message_id() -> str:
    """A new Message-ID from the OS's randomness: 128 bits, unique whatever state the ``random`` module is in
    (``email.utils.make_msgid`` draws from it, and a seeded one repeated an id within a clock tick)."""
    return f"<{secrets.token_hex(16)}@{settings.SMTP_FROM.rpartition('@')[2]}>"


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
    portal_link_for: str = "",
) -> tuple[Email, bool]:
    """Store an email and queue its delivery (a dry run when SMTP is not configured).

    ``to`` must already be checked (``echopilot.emails.valid_email``). With an
    ``idempotency_key`` used before, nothing is written and the earlier email
    is returned; the second value says whether this call created the email.
    ``portal_link_for`` (one of ``to``) asks for a portal link in place of
    ``PORTAL_LINK_PLACEHOLDER``, created when the email is handed to SMTP.
    With a ``request_fingerprint`` (API callers' keys) the earlier email must
    have come from the same request: another one is refused with 409
    ``idempotency_key_reused``, as Stripe does. Recipients on the suppression
    list are left out (``suppressed_to``); when that is all of them the email
    is recorded as ``suppressed`` and never attempted.
    """
    if idempotency_key:
        existing = Email.objects.filter(idempotency_key=idempotency_key).first()
        if existing:
            return _same_request(existing, request_fingerprint), False
    suppressed = sorted(suppressed_addresses(to))
    if len(suppressed) == len(to) and to:
        status = Status.SUPPRESSED
    else:
        status = Status.QUEUED if smtp_configured() else Status.DRY_RUN
    try:
        with transaction.atomic():
            email = Email.objects.create(
                to=to,
                suppressed_to=suppressed,
                subject=subject,
                body=body,
                html=html,
                kind=kind,
                payment=payment,
                idempotency_key=idempotency_key,
                request_fingerprint=request_fingerprint if idempotency_key else "",
                created_by=created_by,
                portal_link_for=portal_link_for,
                status=status,
                message_id=_message_id(),
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
        raise Conflict(
            "This Idempotency-Key was used with a different request; use a new key for a new email.",
            code="idempotency_key_reused",
        )
    return email


def _receipt_content(*, payment: Payment) -> dict:
    """Subject and bodies of a payment's receipt; where its portal link goes they hold the placeholder."""
    context = {
        "amount": payment.amount,
        "currency": payment.currency,
        "payment_id": payment.provider_id,
        "date": payment.created_at,
        "portal_url": PORTAL_LINK_PLACEHOLDER,
    }
    return {
        "subject": f"Your receipt for {money_format(payment.amount, payment.currency)}",
        "body": render_to_string("emails/receipt.txt", context),
        "html": render_to_string("emails/receipt.html", context),
    }


def receipt_send(*, payment: Payment) -> Email | None:
    """Store and queue the receipt of a payment, once: later calls return the first email.

    Called by the task enqueued on ``payments.signals.receipt_owed`` and by the
    email sweep for receipts still owed. The same transaction settles the
    payment's outbox row (``payment_receipt_settle``), so a receipt stops being
    owed exactly when its email exists. Without a valid address nothing is queued
    (None), the receipt is settled all the same and the skip is an event. The
    portal link is created when the email is handed to SMTP (``portal_link_for``),
    never stored.
    """
    with transaction.atomic():
        try:
            to = valid_email(payment.email)
        except ValueError:
            payment_receipt_settle(payment=payment)
            audit_event("emails", "receipt_skipped", payment=payment.provider_id, reason="no valid email address")
            return None
        receipt, _ = email_send(
            to=[to],
            **_receipt_content(payment=payment),
            kind=Kind.RECEIPT,
            payment=payment,
            idempotency_key=f"receipt:{payment.provider_id}",
            portal_link_for=to,
        )
        payment_receipt_settle(payment=payment)
    return receipt


def receipts_owed_send(*, limit: int = 200) -> Counter:
    """Receipts still owed that were claimed in the past ``RECEIPT_OWED_DAYS`` (their task was lost or failed)."""
    outcomes = Counter()
    since = timezone.now() - timedelta(days=RECEIPT_OWED_DAYS)
    for payment in payments_owing_receipt(since=since, limit=limit):
        try:
            receipt = receipt_send(payment=payment)
        except Exception:  # one payment's trouble must not hold up the others, nor the deliveries after this pass
            logger.exception("the receipt of payment %s could not be created", payment.provider_id)
            outcomes["receipt failed"] += 1
        else:
            outcomes["receipt created" if receipt else "receipt skipped"] += 1
    return outcomes


def receipt_resend(*, payment: Payment, created_by: str = "") -> Email:
    """Queue the receipt of ``payment`` again: every call is a new email (the customer asked for it).

    Raises ``ValueError`` when the payment has no valid email address.
    """
    to = valid_email(payment.email)
    email, _ = email_send(
        to=[to],
        **_receipt_content(payment=payment),
        kind=Kind.RECEIPT,
        payment=payment,
        created_by=created_by,
        portal_link_for=to,
    )
    return email


def telegram_send(*, kind: str, subject: str, text: str, buttons: list | None = None) -> list[TelegramMessage]:
    """Store a message to the configured chat (several when longer than 4096 characters) and queue it.

    ``buttons`` (rows of [label, callback_data], callback_data at most 64 bytes) go under the last part; a press
    arrives as ``notifications.signals.telegram_button``.
    """
    status = Status.QUEUED if telegram_configured() else Status.DRY_RUN
    parts = telegram_split(telegram_text(subject, text))
    with transaction.atomic():
        messages = [
            TelegramMessage.objects.create(
                chat_id=settings.TELEGRAM_CHAT_ID,
                text=part,
                kind=kind,
                status=status,
                buttons=(buttons or []) if number == len(parts) - 1 else [],
            )
            for number, part in enumerate(parts)
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


def notify(*, kind: str, subject: str, text: str, buttons: list | None = None) -> Notified:
    """Send an alert or report to every configured channel: ``ALERT_EMAIL_TO`` and the Telegram chat.

    ``kind`` is one of ``Kind`` (alert, report, ...); an unknown one is a ``ValueError``. ``buttons`` go
    under the Telegram message (``telegram_send``); email has none.
    The addresses were validated when the settings were read.
    """
    if kind not in Kind.values:
        raise ValueError(f"unknown kind {kind!r}")
    subject = header_safe(subject)[:998]  # one line, nothing a header may not carry
    with transaction.atomic():
        email = None
        if settings.ALERT_EMAIL_TO:
            email, _ = email_send(
                to=[valid_email(address) for address in settings.ALERT_EMAIL_TO],
                subject=subject,
                body=text,
                kind=kind,
            )
        return Notified(email=email, telegram=telegram_send(kind=kind, subject=subject, text=text, buttons=buttons))


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


def _email_content(email: Email) -> tuple[str, str]:
    """The body and HTML handed to SMTP: with a fresh portal link in place of the placeholder when the email asks.

    Only rows with ``portal_link_for`` get a link (a manual email quoting the
    placeholder gets none), only for one of their own recipients, and the link
    lives only in the returned strings. When no link can be created the attempt
    fails as transient: it is retried with backoff and shows its error, because
    the customer should get the link.
    """
    if not email.portal_link_for:
        return email.body, email.html
    if email.portal_link_for not in email.to:
        raise DeliveryError("the portal link's address is not a recipient of this email", permanent=True)
    if PORTAL_LINK_PLACEHOLDER not in email.body and escape(PORTAL_LINK_PLACEHOLDER) not in email.html:
        return email.body, email.html
    try:
        url = mint_link(email)
    except Exception as exc:
        raise DeliveryError(
            f"the portal link could not be created: {type(exc).__name__}: {exc}"[:1000], permanent=False
        ) from None
    if not url:
        raise DeliveryError("the portal link could not be created: no link minter is registered", permanent=False)
    return (
        email.body.replace(PORTAL_LINK_PLACEHOLDER, url),
        email.html.replace(escape(PORTAL_LINK_PLACEHOLDER), escape(url)),
    )


def _unclaim(email: Email, status: str, event: str, **fields) -> None:
    """A claimed email that was not attempted: to ``status`` with its attempt uncounted."""
    fields = {"status": status, "attempts": email.attempts - 1, **fields}
    if Email.objects.filter(pk=email.pk, status=Status.SENDING).update(**fields):
        for name, value in fields.items():
            setattr(email, name, value)
        _event(email, event)


def _recipients(email: Email) -> list[str]:
    """The email's recipients not on the suppression list; the others are added to its ``suppressed_to``."""
    suppressed = suppressed_addresses(email.to)
    if suppressed - set(email.suppressed_to):
        email.suppressed_to = sorted(suppressed | set(email.suppressed_to))
        Email.objects.filter(pk=email.pk).update(suppressed_to=email.suppressed_to)
    return [address for address in email.to if address not in suppressed]


def _email_deliver(pks: list[int]) -> Counter:
    outcomes = Counter()
    if not smtp_configured():  # queued emails wait until SMTP is configured again
        return outcomes
    deadline = sendrate.pass_deadline()
    with SmtpChannel() as channel:
        for pk in pks:
            email = _claim(Email, pk)
            if email is None:
                continue
            to = _recipients(email)
            if not to:
                _unclaim(email, Status.SUPPRESSED, Status.SUPPRESSED)
                outcomes["suppressed"] += 1
                continue
            if not sendrate.send_slot_take(deadline=deadline):
                # Over EMAIL_RATE_PER_*: it waits in the queue, as do the rest (untouched) for the next pass.
                _unclaim(email, Status.QUEUED, "rate_limited", claimed_at=None)
                outcomes["waiting"] += 1
                break
            try:
                channel.open()
            except DeliveryError as error:
                outcomes[_record_failure(email, error)] += 1
                break  # the server cannot be reached: the rest stay queued, untouched, for the next pass
            try:
                body, html = _email_content(email)
                channel.send(to=to, subject=email.subject, body=body, html=html, message_id=email.message_id)
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
    """The periodic pass: requeue stuck emails, create receipts still owed, then deliver what is due."""
    return _requeue_stuck(Email) + receipts_owed_send(limit=limit) + email_deliver_due(limit=limit)


def telegram_sweep(*, limit: int = 50) -> Counter:
    """Requeue stuck messages, then deliver what is due, in order, at most one a second per chat.

    ``limit`` keeps one pass (about a second per message to one chat) well under the task timeout.

    After a 429 the chat's queued messages all wait for ``retry_after``, so parts keep their order. Then the
    edits still due after button presses are sent again (``notifications.buttons.telegram_edits_send``).
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
            telegram_id = channel.send(chat_id=message.chat_id, text=message.text, buttons=message.buttons)
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
    if limit:
        # Presses that changed a message whose edit Telegram did not take yet (notifications.buttons).
        outcomes.update(telegram_edits_send(limit=limit))
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
        portal_link_for=email.portal_link_for,
    )
    return copy


def telegram_requeue(*, message: TelegramMessage) -> bool:
    """A failed Telegram message back to the queue with fresh attempts; False when it was not failed."""
    requeued = _requeue(message)
    if requeued:
        transaction.on_commit(lambda: async_task("notifications.tasks.telegram_sweep"), robust=True)
    return requeued
