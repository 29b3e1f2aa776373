"""Money: currencies, their minor units, and the one way an amount is shown.

Amounts are ``Decimal`` with 2 places (the ledger's columns); a currency is its
lowercase ISO 4217 code (``usd``). Stripe sends amounts in minor units (cents,
yen, fils); ``amount_from_minor`` and ``amount_to_minor`` convert with the
currency's exponent, and ``money_format`` is the one way to show an amount (the
template filter ``money`` calls it: portal pages, receipts, the daily report).
"""

from decimal import ROUND_HALF_EVEN, Decimal

CENT = Decimal("0.01")

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

# Stripe's currencies whose minor unit is not a hundredth (https://docs.stripe.com/currencies).
ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})


def is_currency(value) -> bool:
    """Whether ``value`` is a lowercase ISO 4217 code of a currency in circulation."""
    return isinstance(value, str) and value in ISO_4217


def currency_exponent(currency: str) -> int:
    """Decimal places of the currency's minor unit (any case of its ISO code): 0, 3 or 2."""
    currency = currency.lower()
    return 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2


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


def amount_to_minor(amount: Decimal, currency: str) -> int:
    """``amount`` in the currency's minor units, exactly; ``ValueError`` when it is no whole number of them."""
    minor = amount.scaleb(currency_exponent(currency))
    if minor != minor.to_integral_value():
        raise ValueError(f"{amount} {currency.upper()} is not a whole number of the currency's minor units")
    return int(minor)


def money_format(amount: Decimal, currency: str) -> str:
    """``USD 7,250.00``, ``JPY 12,000``, ``KWD 1.500``, ``EUR -3.10``: the code upper-case, then the amount.

    The amount has the currency's own number of decimals (rounded half-even) and a
    comma between thousands, however large it is; a minus sign when it is negative.
    """
    text = f"{amount:,.{currency_exponent(currency)}f}"
    if text.startswith("-") and not text.strip("-0.,"):
        text = text[1:]  # an amount that rounds to zero has no sign
    return f"{currency.upper()} {text}"
