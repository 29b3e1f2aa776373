"""Email addresses: the one form the service stores, compares and sends to.

An address is trimmed and lowercased as a whole, local part included. The ledger
stores a customer's address that way, the fraud guard counts per address and
domain in it, a portal link signs it and finds the customer's payments by it,
and receipts, reports and alerts are sent to it. Mailbox names that differ only
in case are one customer here (RFC 5321 lets a server tell them apart, and
advises against relying on it).
"""

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

MAX_EMAIL_CHARS = 254  # RFC 5321's path limit less the angle brackets; EmailField's max_length

_validate_email = EmailValidator()


def normalize_email(value: str | None) -> str:
    """``value`` trimmed and lowercased (the whole address); ``""`` for None. Nothing is checked."""
    return (value or "").strip().lower()


def valid_email(value: str | None) -> str:
    """``normalize_email(value)`` when it is an address to send to; ``ValueError`` otherwise.

    Django's validator allows control characters inside a quoted local part; an
    address meant for a mail header must not have any, nor be longer than 254 characters.
    """
    email = normalize_email(value)
    problem = len(email) > MAX_EMAIL_CHARS or not email.isprintable()
    if not problem:
        try:
            _validate_email(email)
        except ValidationError:
            problem = True
    if problem:
        raise ValueError(f"{email[:100]!r} is not a valid email address.")
    return email
