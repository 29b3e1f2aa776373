"""Pure rules of the ledger: status precedence, money from minor units, currencies, email form."""

import re
from decimal import ROUND_HALF_EVEN, Decimal

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from payments.models import Payment

CENT = Decimal("0.01")
CURRENCY_CODE = re.compile(r"[a-z]{3}")  # the form of a lowercase ISO 4217 code; ``ISO_4217`` says which exist

# Stripe's largest amount: eight digits of minor units, e.g. 99999999 for USD 999,999.99
# (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts). Every amount the service
# takes (webhook minor units, fraud checks) stays at or below it, so it always fits the 14-digit columns.
MAX_AMOUNT_MINOR = 99_999_999

# ISO 4217 codes of the currencies in circulation (list one, as of 2025), lowercase, plus codes withdrawn
# since 2018 that older payments may still carry (ang, cuc, hrk, mro, sll, std, vef, zwl). Left out on
# purpose: fund codes (bov, che, chw, clf, cou, mxv, usn, uyi, uyw), precious metals and bond units
# (xag, xau, xpd, xpt, xba-xbd), xdr, xsu, xua, and xts / xxx (testing / no currency): nobody pays in them.
ISO_4217 = frozenset(
    """
    aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl bsd btn bwp byn bzd
    cad cdf chf clp cny cop crc cuc cup cve czk djf dkk dop dzd egp ern etb eur fjd fkp gbp gel ghs gip
    gmd gnf gtq gyd hkd hnl hrk htg huf idr ils inr iqd irr isk jmd jod jpy kes kgs khr kmf kpw krw kwd
    kyd kzt lak lbp lkr lrd lsl lyd mad mdl mga mkd mmk mnt mop mro mru mur mvr mwk mxn myr mzn nad ngn
    nio nok npr nzd omr pab pen pgk php pkr pln pyg qar ron rsd rub rwf sar sbd scr sdg sek sgd shp sle
    sll sos srd ssp std stn svc syp szl thb tjs tmt tnd top try ttd twd tzs uah ugx usd uyu uzs ved vef
    ves vnd vuv wst xaf xcd xcg xof xpf yer zar zmw zwg zwl
    """.split()  # noqa: SIM905 - 24 codes a line read better than 170 quoted strings
)

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


def is_currency(value) -> bool:
    """Whether ``value`` is a lowercase ISO 4217 code of a currency in circulation."""
    return isinstance(value, str) and value in ISO_4217


def max_amount(currency: str) -> Decimal:
    """The largest amount (``MAX_AMOUNT_MINOR`` minor units) in the currency's major unit, exactly."""
    return Decimal(MAX_AMOUNT_MINOR).scaleb(-currency_exponent(currency))


def amount_from_minor(minor: int, currency: str) -> Decimal:
    """An amount in the currency's minor units as a Decimal with 2 places.

    Three-decimal currencies are rounded half-even to 2 places; Stripe only
    accepts amounts divisible by 10 in them, so nothing real is lost. Anything
    but a whole number from 0 to ``MAX_AMOUNT_MINOR`` is a ``ValueError``.
    """
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise ValueError(f"amount must be an integer of minor units, got {type(minor).__name__}")
    if minor < 0:
        raise ValueError("amount must not be negative")
    if minor > MAX_AMOUNT_MINOR:
        raise ValueError(f"amount is above the maximum of {MAX_AMOUNT_MINOR} minor units")
    return Decimal(minor).scaleb(-currency_exponent(currency)).quantize(CENT, rounding=ROUND_HALF_EVEN)


def normalize_email(value: str | None) -> str:
    return (value or "").strip().lower()


_validate_email = EmailValidator()


def valid_email(value: str) -> str:
    """``value`` as the ledger stores it (trimmed, lowercase); ``ValueError`` unless it is an address to send to.

    Django's validator allows control characters inside a quoted local part;
    an address meant for a mail header must not have any.
    """
    email = normalize_email(value)
    if len(email) > 254 or not email.isprintable():
        raise ValueError("not a valid email address")
    try:
        _validate_email(email)
    except ValidationError:
        raise ValueError("not a valid email address") from None
    return email
