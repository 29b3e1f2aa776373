"""Presses of the inline buttons under our Telegram messages, as Telegram's webhook delivers them.

``POST /api/telegram/webhook`` hands the raw body and the secret header to
``telegram_update_receive``, which checks, in this order and before anything is
written: the secret is configured, the header matches it (constant time), the body
is one strict JSON object with an ``update_id``. Those refusals are a ``telegram``
line only (``update_refused``), never a row, so nobody without the secret can make
us write one. An authentic update is then one ``TelegramUpdate`` row, unique by
``update_id``: a replayed or retried update is recorded once and acted on once
(``update_replayed``). A press counts only from an allowed chat and user and on a
button that is ours (``<action>:<target>`` on that very message); then
``notifications.signals.telegram_button`` is sent inside the transaction that
records the update, so the update and what the receiver did are kept together or
not at all.

After the commit Telegram is answered: ``answerCallbackQuery`` with the notice
(ends the spinner of the person who pressed) and, when the answer changes the
message, ``editMessageText``. The press counts whatever Telegram answers: a failed
notice is recorded on the update (``answer_error``); a failed edit leaves
``edit_due`` on the message, which ``telegram_sweep`` sends again every minute
(``telegram_edits_send``) until Telegram takes it or refuses it for good, the
error shown in the admin.
"""

import hmac
import logging
import re
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from echopilot.actors import actor_telegram
from echopilot.audit import audit_event
from echopilot.exceptions import Invalid
from echopilot.parsers import json_loads
from notifications.channels import DeliveryError, TelegramChannel
from notifications.models import Status, TelegramMessage, TelegramUpdate, UpdateOutcome
from notifications.signals import ButtonAnswer, telegram_button

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
# Telegram's ids are at most 52 bits; anything beyond a signed 64-bit integer cannot be stored, so is malformed.
MAX_ID = 2**63 - 1
# Ours: an action in lower case, ":", a target of printable ASCII; at most 64 bytes (Telegram's limit).
CALLBACK_DATA = re.compile(r"([a-z][a-z0-9_]{0,31}):([\x21-\x7e]{1,62})")

NOTICE_NOTHING = "This button no longer does anything."
NOTICE_NOT_ALLOWED = "You may not use these buttons."
NOTICE_FAILED = "That did not work; press again, or act in the admin."


class WebhookRefused(Invalid):
    """A call refused before anything is recorded: ``code`` says why (``webhook_not_configured``,
    ``not_authenticated``, ``malformed_request``)."""


@dataclass(frozen=True)
class UpdateResult:
    update_id: int
    outcome: str  # an UpdateOutcome, or "replayed"
    reason: str = ""


def _text(value, chars: int) -> str:
    """A string from the update as we store and log it: no NUL, no lone surrogates (neither fits in a column)."""
    if not isinstance(value, str):
        value = "" if value is None else str(value)
    value = value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")
    return value[:chars]


def _id(value) -> int | None:
    """A Telegram id (an integer, not a bool, that fits in 64 bits), or None."""
    if isinstance(value, int) and not isinstance(value, bool) and -MAX_ID <= value <= MAX_ID:
        return value
    return None


def _refused(code: str, message: str, detail: str) -> WebhookRefused:
    audit_event("telegram", "update_refused", reason=code, detail=detail)
    return WebhookRefused(message, code=code)


def _authenticate(secret: str | None) -> None:
    expected = settings.TELEGRAM_WEBHOOK_SECRET
    if not expected:
        raise _refused(
            "webhook_not_configured",
            "The Telegram webhook is not configured.",
            "TELEGRAM_WEBHOOK_SECRET is empty",
        )
    given = (secret or "").encode("utf-8", "replace")
    if not hmac.compare_digest(given, expected.encode()):
        raise _refused(
            "not_authenticated",
            f"Missing or wrong {SECRET_HEADER} header.",
            "no secret header" if secret is None else "wrong secret",
        )


def _parse(body: bytes) -> dict:
    try:
        update = json_loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _refused("malformed_request", "The body is not a Telegram update.", _text(exc, 200)) from None
    if not isinstance(update, dict) or _id(update.get("update_id")) is None or update["update_id"] < 0:
        raise _refused("malformed_request", "The body is not a Telegram update.", "no valid update_id")
    return update


@dataclass(frozen=True)
class Press:
    """What a callback_query says, each value checked for type and size (None/"" when absent or malformed)."""

    query_id: str
    chat_id: int | None
    chat_username: str
    user_id: int | None
    message_id: int | None
    data: str

    @classmethod
    def of(cls, query: dict) -> "Press":
        message = query.get("message") if isinstance(query.get("message"), dict) else {}
        chat = message.get("chat") if isinstance(message.get("chat"), dict) else {}
        user = query.get("from") if isinstance(query.get("from"), dict) else {}
        username = chat.get("username")
        return cls(
            query_id=_text(query.get("id"), 100) if isinstance(query.get("id"), str) else "",
            chat_id=_id(chat.get("id")),
            chat_username=_text(username, 40) if isinstance(username, str) else "",
            user_id=_id(user.get("id")),
            message_id=_id(message.get("message_id")),
            data=query.get("data") if isinstance(query.get("data"), str) else "",
        )

    def chat_keys(self) -> set[str]:
        """How our settings and rows may name this chat: its id, or @username for a public channel."""
        keys = {str(self.chat_id)} if self.chat_id is not None else set()
        return keys | ({f"@{self.chat_username}"} if self.chat_username else set())


def allowed_chats() -> set[str]:
    return {chat for chat in [settings.TELEGRAM_CHAT_ID, *settings.TELEGRAM_ALLOWED_CHAT_IDS] if chat}


def _refusal(press: Press) -> str:
    """Why a press is not acted on ("" when it is): the first of chat, user, button that fails."""
    if press.chat_id is None or not press.chat_keys() & allowed_chats():
        return "chat_not_allowed"
    if press.user_id is None or str(press.user_id) not in settings.TELEGRAM_ALLOWED_USER_IDS:
        return "user_not_allowed"
    # The pattern allows ASCII only, so after it the length in characters is the length in bytes.
    if not CALLBACK_DATA.fullmatch(press.data) or len(press.data) > 64:
        return "not_our_button"
    return ""


def _is_on(message: TelegramMessage | None, data: str) -> bool:
    """The button is one the message carries (or we no longer have the message: the receiver decides)."""
    if message is None:
        return True
    return any(isinstance(button, list) and button[1:2] == [data] for row in message.buttons for button in row)


def _dispatch(press: Press, message: TelegramMessage | None, by: str, now) -> tuple[str, str, ButtonAnswer | None]:
    """Send the signal; (outcome, reason, answer). A receiver that raises undoes only what it wrote."""
    action, _, target = press.data.partition(":")
    try:
        with transaction.atomic():
            responses = telegram_button.send(
                sender=TelegramUpdate, action=action, target=target, by=by, message=message, now=now
            )
    except Exception as exc:
        logger.exception("a telegram_button receiver failed on %r", press.data)
        return UpdateOutcome.FAILED, _text(f"{type(exc).__name__}: {exc}", 300), None
    answer = next((answer for _, answer in responses if isinstance(answer, ButtonAnswer)), None)
    if answer is None:
        return UpdateOutcome.IGNORED, "", None
    return UpdateOutcome.ACTED, "", answer


def _change(message: TelegramMessage, answer: ButtonAnswer) -> bool:
    """Store the message's new text and buttons (one more revision, an edit due); False when nothing changes."""
    text = message.text if answer.text is None else answer.text
    buttons = message.buttons if answer.buttons is None else answer.buttons
    if (text, buttons) == (message.text, message.buttons):
        return False
    TelegramMessage.objects.filter(pk=message.pk).update(
        text=text, buttons=buttons, revision=F("revision") + 1, edit_due=True, edit_attempts=0, edit_error=""
    )
    return True


def telegram_update_receive(*, body: bytes, secret: str | None) -> UpdateResult:
    """Check, record and act on one update from Telegram's webhook; then answer the press in Telegram.

    Raises ``WebhookRefused`` (nothing recorded but a log line) for a missing or wrong secret or a body that is
    not an update. Every authentic update is answered with a result: acted, ignored, refused (with the reason),
    failed, or replayed (its update id was received before; nothing is done again).
    """
    _authenticate(secret)
    update = _parse(body)
    update_id = update["update_id"]
    now = timezone.now()
    query = update.get("callback_query")
    kind = "callback_query" if isinstance(query, dict) else _text(next((k for k in update if k != "update_id"), ""), 40)
    press = Press.of(query) if isinstance(query, dict) else None
    try:
        with transaction.atomic():
            # First the row: a second delivery of this update waits here, then finds it taken.
            row = TelegramUpdate.objects.create(update_id=update_id, kind=kind, outcome=UpdateOutcome.REFUSED)
            answer, changed = _act(row, press, now)
            row.save()
            audit_event(
                "telegram",
                "update",
                update_id=update_id,
                kind=row.kind,
                outcome=row.outcome,
                reason=row.reason or None,
                action=row.action or None,
                target=row.target or None,
                by=row.by or None,
                chat=row.chat_id or None,
                message=row.message.public_id if row.message else None,
            )
    except IntegrityError:
        if not TelegramUpdate.objects.filter(update_id=update_id).exists():
            raise
        audit_event("telegram", "update_replayed", update_id=update_id)
        return UpdateResult(update_id=update_id, outcome="replayed")
    if press is not None and press.query_id:
        _answer(row, press.query_id, answer or ButtonAnswer(notice=NOTICE_NOTHING))
    if changed and settings.TELEGRAM_BOT_TOKEN:  # otherwise it stays due for the sweep
        telegram_edit_send(message=TelegramMessage.objects.get(pk=row.message_id))
    return UpdateResult(update_id=update_id, outcome=row.outcome, reason=row.reason)


def _act(row: TelegramUpdate, press: Press | None, now) -> tuple[ButtonAnswer | None, bool]:
    """Fill in ``row`` (not saved) and act on the press when it counts; returns the answer and whether the
    message changed."""
    if press is None:
        row.reason = "not_a_button_press"
        return None, False
    row.chat_id = _text(press.chat_id, 40) if press.chat_id is not None else ""
    row.user_id = _text(press.user_id, 40) if press.user_id is not None else ""
    row.telegram_message_id = press.message_id
    row.callback_data = _text(press.data, 64)
    refusal = _refusal(press)
    if not refusal and press.message_id is not None:
        row.message = (
            TelegramMessage.objects.select_for_update()
            .filter(chat_id__in=press.chat_keys(), telegram_message_id=press.message_id, status=Status.SENT)
            .order_by("-pk")
            .first()
        )
    if not refusal and not _is_on(row.message, press.data):
        refusal = "not_our_button"
    if refusal:
        row.reason = refusal
        row.notice = NOTICE_NOT_ALLOWED if refusal != "not_our_button" else NOTICE_NOTHING
        return ButtonAnswer(notice=row.notice), False
    row.action, _, row.target = press.data.partition(":")
    row.by = actor_telegram(press.user_id)
    row.outcome, row.reason, answer = _dispatch(press, row.message, row.by, now)
    if row.outcome == UpdateOutcome.FAILED:
        answer = ButtonAnswer(notice=NOTICE_FAILED)
    answer = answer or ButtonAnswer(notice=NOTICE_NOTHING)
    row.notice = _text(answer.notice, 200)
    changed = row.message is not None and row.outcome == UpdateOutcome.ACTED and _change(row.message, answer)
    return answer, changed


def _answer(row: TelegramUpdate, query_id: str, answer: ButtonAnswer) -> None:
    """answerCallbackQuery, its outcome kept on the update. Not retried: Telegram lets a query be answered only
    for a short while, and what the press did is already recorded (and the message edit is retried apart)."""
    rows = TelegramUpdate.objects.filter(pk=row.pk)
    if not settings.TELEGRAM_BOT_TOKEN:
        rows.update(answer_error="TELEGRAM_BOT_TOKEN is not set")
        return
    try:
        TelegramChannel().answer_callback(callback_query_id=query_id, text=answer.notice)
    except DeliveryError as error:
        rows.update(answer_error=str(error))
        audit_event("telegram", "press_answer_failed", update_id=row.update_id, error=str(error))
    else:
        rows.update(answered_at=timezone.now())


def telegram_edit_send(*, message: TelegramMessage) -> str:
    """Show the message's current text and buttons in Telegram (editMessageText); returns the outcome.

    Only the revision sent is marked done, so a press that changed the message meanwhile leaves its edit due.
    A transient failure leaves the edit due (at most ``EMAIL_MAX_ATTEMPTS`` attempts); a permanent one ends it.
    Either way the error stays on the message for the admin.
    """
    if message.telegram_message_id is None:
        TelegramMessage.objects.filter(pk=message.pk).update(edit_due=False, edit_error="Telegram's id is unknown")
        return "failed"
    attempts = message.edit_attempts + 1
    try:
        TelegramChannel().edit(
            chat_id=message.chat_id, message_id=message.telegram_message_id, text=message.text, buttons=message.buttons
        )
    except DeliveryError as error:
        done = error.permanent or attempts >= settings.EMAIL_MAX_ATTEMPTS
        TelegramMessage.objects.filter(pk=message.pk, revision=message.revision).update(
            edit_due=not done, edit_attempts=attempts, edit_error=str(error)
        )
        audit_event(
            "telegram",
            "edit_failed" if done else "edit_retry",
            id=message.public_id,
            revision=message.revision,
            attempt=attempts,
            error=str(error),
        )
        return "edit failed" if done else "edit retry"
    TelegramMessage.objects.filter(pk=message.pk, revision=message.revision).update(
        edit_due=False, edit_attempts=attempts, edit_error="", edited_at=timezone.now()
    )
    audit_event("telegram", "edited", id=message.public_id, revision=message.revision, attempt=attempts)
    return "edited"


def telegram_edits_send(*, limit: int = 50) -> dict:
    """Edits still due (Telegram failed or was not reached when the press was answered), oldest first."""
    outcomes: dict[str, int] = {}
    for message in TelegramMessage.objects.filter(edit_due=True).order_by("pk")[:limit]:
        outcome = telegram_edit_send(message=message)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


# --- Registering the webhook (manage.py telegram_set_webhook) ----------------------------------------------


def telegram_webhook_set(*, url: str, drop_pending_updates: bool = False, by: str) -> None:
    """``setWebhook``: Telegram posts button presses (callback_query updates only) to ``url`` with our secret.

    Raises ``Invalid`` when the bot token or the secret is not configured, ``DeliveryError`` when Telegram
    refuses (its description, the token scrubbed).
    """
    if not settings.TELEGRAM_BOT_TOKEN or not settings.TELEGRAM_WEBHOOK_SECRET:
        raise Invalid("TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET must both be set.", code="not_configured")
    TelegramChannel().call(
        "setWebhook",
        {
            "url": url,
            "secret_token": settings.TELEGRAM_WEBHOOK_SECRET,
            "allowed_updates": ["callback_query"],
            "drop_pending_updates": drop_pending_updates,
        },
    )
    audit_event("telegram", "webhook_set", url=url, drop_pending_updates=drop_pending_updates, by=by)


def telegram_webhook_delete(*, drop_pending_updates: bool = False, by: str) -> None:
    """``deleteWebhook``: Telegram stops posting updates to us (presses are then kept by Telegram for a day)."""
    if not settings.TELEGRAM_BOT_TOKEN:
        raise Invalid("TELEGRAM_BOT_TOKEN is not set.", code="not_configured")
    TelegramChannel().call("deleteWebhook", {"drop_pending_updates": drop_pending_updates})
    audit_event("telegram", "webhook_deleted", drop_pending_updates=drop_pending_updates, by=by)
