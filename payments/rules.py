"""Pure rules of the ledger: status precedence, money from minor units, email form."""

import re
from decimal import ROUND_HALF_EVEN, Decimal

from payments.models import Payment

CENT = Decimal("0.01")
CURRENCY_CODE = re.compile(r"[a-z]{3}")  # a lowercase ISO 4217 code

_RANK = {
    Payment.Status.PENDING: 0,
    Payment.Status.FAILED: 1,
    Payment.Status.SUCCEEDED: 2,
    Payment.Status.REFUNDED: 3,
}

# Stripe's currencies whose minor unit is not a hundredth (https://docs.stripe.com/currencies).
ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})


def currency_exponent(currency: str) -> int:
    """Decimal places of the currency's minor unit (``currency`` a lowercase ISO code): 0, 3 or 2."""
    return 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2


def status_advances(current: str, new: str) -> bool:
    """Whether a payment in ``current`` may move to ``new``: only forward, refunded is terminal."""
    return _RANK[new] > _RANK[current]


def amount_from_minor(minor: int, currency: str) -> Decimal:
    """An amount in the currency's minor units as a Decimal with 2 places.

    Three-decimal currencies are rounded half-even to 2 places; Stripe only
    accepts amounts divisible by 10 in them, so nothing real is lost.
    """
    if isinstance(minor, bool) or not isinstance(minor, int) or minor < 0:
        raise ValueError(f"amount must be a non-negative integer of minor units, got {minor!r}")
    return Decimal(minor).scaleb(-currency_exponent(currency)).quantize(CENT, rounding=ROUND_HALF_EVEN)


def normalize_email(value: str | None) -> str:
    return (value or "").strip().lower()
