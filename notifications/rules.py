"""Pure rules of notifications: addresses, money in receipts, retry timing, Telegram text."""

import html
import smtplib
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from payments.rules import currency_exponent

MAX_RETRY_DELAY_SECONDS = 3600
TELEGRAM_LIMIT = 4096
TELEGRAM_SUBJECT_CHARS = 256

_validate_email = EmailValidator()


def normalize_address(value: str) -> str:
    """The address trimmed, with its domain lowercased; ``ValueError`` when it is not a valid address."""
    if "\r" in value or "\n" in value:
        raise ValueError("Must not contain line breaks.")
    address = value.strip()
    local, at, domain = address.rpartition("@")
    address = f"{local}{at}{domain.lower()}"
    try:
        _validate_email(address)
    except ValidationError:
        raise ValueError(f"{address[:100]!r} is not a valid email address.") from None
    return address


def format_amount(amount: Decimal, currency: str) -> str:
    """``USD 1,234.50``, ``JPY 1,200``, ``KWD 1.500``: the currency's own number of decimals."""
    currency = currency.lower()
    return f"{currency.upper()} {amount:,.{currency_exponent(currency)}f}"


def smtp_error_is_permanent(exc: Exception) -> bool:
    """Whether retrying cannot help: 5xx replies, every recipient refused, bad credentials.

    4xx replies and network trouble (refused, reset, timed out, disconnected) are transient.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return True
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return not isinstance(exc, (smtplib.SMTPServerDisconnected, OSError))


def retry_delay_seconds(attempts: int, base_seconds: int) -> int:
    """Exponential backoff after the given number of attempts, at most an hour."""
    return min(base_seconds * 2 ** (attempts - 1), MAX_RETRY_DELAY_SECONDS)


def telegram_text(subject: str, text: str) -> str:
    """The subject in bold and the text, every inserted value escaped for parse_mode=HTML."""
    return f"<b>{html.escape(subject[:TELEGRAM_SUBJECT_CHARS])}</b>\n{html.escape(text)}"


def telegram_split(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Cut ``text`` into parts of at most ``limit`` characters at line boundaries.

    A single line longer than ``limit`` is cut hard, but never inside an HTML
    entity such as ``&amp;``.
    """
    parts: list[str] = []
    current: str | None = None
    for line in text.split("\n"):
        while len(line) > limit:
            cut = limit
            entity = line.rfind("&", 0, cut)
            if entity > 0 and ";" not in line[entity:cut]:
                cut = entity
            if current is not None:
                parts.append(current)
                current = None
            parts.append(line[:cut])
            line = line[cut:]
        if current is None:
            current = line
        elif len(current) + 1 + len(line) <= limit:
            current = f"{current}\n{line}"
        else:
            parts.append(current)
            current = line
    parts.append(current)
    return parts
