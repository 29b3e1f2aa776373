"""What notifications announce to the apps above them; they connect receivers, notifications never import them."""

from dataclasses import dataclass

from django.dispatch import Signal

# Sent when an accepted Telegram user presses an inline button of one of our messages (``POST
# /api/telegram/webhook``, after its secret, chat, user and replay checks), inside the transaction that records
# the update. Keyword arguments:
#   action   the part of the button's callback_data before the first ":" ("ack", "silence_1h", ...)
#   target   the part after it (e.g. an alert's id)
#   by       who pressed it: ``echopilot.actors.actor_telegram(user id)``
#   message  the ``TelegramMessage`` the button was on (None when we no longer have it)
#   now      aware UTC
# A receiver that handles ``action`` returns a ``ButtonAnswer``; others return None. With no answer the press
# gets the notice "This button no longer does anything." and the message is left as it is.
telegram_button = Signal()


@dataclass(frozen=True)
class ButtonAnswer:
    notice: str  # the short notice Telegram shows the person who pressed (answerCallbackQuery), at most 200 chars
    text: str | None = None  # the message's new text (HTML, as sent), or None to leave it
    buttons: list | None = None  # the message's new buttons (rows of [label, callback_data]); [] removes them
