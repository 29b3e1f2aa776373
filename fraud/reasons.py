"""A fraud decision's reason in plain words, for people: the admin, the dashboard, the portal.

The API keeps the codes (``velocity_exceeded_6_per_hour``); operators read
"6 payments with this card in the past hour (limit 5)". ``reason_text`` knows
every code ``fraud.rules.decide`` can produce (``tests/fraud/test_reasons.py``
walks them all) and says what the check observed against the limit it broke.
A code it does not know (say, one a newer node wrote) is shown as it is, never
hidden.
"""

import re
from decimal import Decimal, InvalidOperation

from echopilot.money import money_format

_LISTS = {"email": "This email", "domain": "This email's domain", "card": "This card"}


def _amount(value, currency: str) -> str | None:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        return None
    return money_format(amount, currency) if amount.is_finite() else None


def _whole(value) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _counted(count: int, noun: str, plural: str, where: str, limit: str) -> str:
    text = f"{count} {noun if count == 1 else plural} {where}"
    limit_count = _whole(limit)
    return f"{text} (limit {limit_count})" if limit_count is not None else text


# The counting rules: reason pattern -> (noun, plural, what was counted where).
_COUNTED = {
    r"velocity_exceeded_(\d+)_per_hour": ("payment", "payments", "with this card in the past hour"),
    r"cards_per_email_exceeded_(\d+)_per_day": ("card", "cards", "with this email in the past 24 hours"),
    r"emails_per_card_exceeded_(\d+)_per_day": ("email", "emails", "with this card in the past 24 hours"),
    r"card_declines_exceeded_(\d+)_per_hour": (
        "blocked or declined attempt",
        "blocked or declined attempts",
        "with this card in the past hour",
    ),
    r"ip_velocity_exceeded_(\d+)_per_hour": ("payment", "payments", "from this IP address in the past hour"),
}


def reason_text(reason: str, *, limit: str = "", amount=None, currency: str = "") -> str:
    """The plain-words phrase for a reason code, with the check's limit, amount and currency where it has them."""
    if reason == "all_checks_passed":
        return "All checks passed"
    if reason == "allowlisted":
        return "On the allow list"
    if match := re.fullmatch(r"blocklisted_(email|domain|card)", reason):
        return f"{_LISTS[match[1]]} is on the block list"
    if reason == "prepaid_card_blocked":
        return "Prepaid card (prepaid cards are blocked)"
    for pattern, (noun, plural, where) in _COUNTED.items():
        if match := re.fullmatch(pattern, reason):
            return _counted(int(match[1]), noun, plural, where, limit)
    if match := re.fullmatch(r"daily_limit_exceeded_(-?\d+(?:\.\d+)?)", reason):
        total = _amount(match[1], currency)
        text = f"{total} today with this email"
        cap = _amount(limit, currency) if limit else None
        return f"{text}, over the daily limit of {cap}" if cap else f"{text}, over the daily limit"
    if reason == "high_amount_requires_review":
        shown = _amount(amount, currency) if amount is not None else None
        threshold = _amount(limit, currency) if limit else None
        if shown and threshold:
            return f"{shown} is above the review threshold of {threshold}"
        return "Amount above the review threshold"
    return reason


def check_reason_text(check) -> str:
    """``reason_text`` for a stored ``FraudCheck`` (or anything with reason, limit, amount and currency)."""
    return reason_text(check.reason, limit=check.limit, amount=check.amount, currency=check.currency)
