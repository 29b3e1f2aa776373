"""The platform's money helpers: currencies, minor units, and the one formatter (function and template filter)."""

from decimal import Decimal

import pytest
from django.template import Context, Template

from echopilot.money import (
    CENT,
    MAX_AMOUNT_MINOR,
    amount_from_minor,
    amount_to_minor,
    currency_exponent,
    is_currency,
    max_amount,
    money_format,
)


@pytest.mark.parametrize(("currency", "exponent"), [("usd", 2), ("eur", 2), ("jpy", 0), ("KRW", 0), ("kwd", 3)])
def test_each_currency_has_its_exponent(currency, exponent):
    assert currency_exponent(currency) == exponent


@pytest.mark.parametrize(
    ("value", "expected"), [("usd", True), ("jpy", True), ("USD", False), ("xxx", False), (1, False)]
)
def test_a_currency_is_a_lowercase_iso_4217_code_in_circulation(value, expected):
    assert is_currency(value) is expected


def test_the_maximum_is_eight_digits_of_minor_units_in_every_currency():
    assert (max_amount("usd"), max_amount("jpy"), max_amount("kwd")) == (
        Decimal("999999.99"),
        Decimal("99999999"),
        Decimal("99999.999"),
    )


@pytest.mark.parametrize(
    ("minor", "currency", "amount"),
    [
        (4999, "usd", "49.99"),
        (1, "eur", "0.01"),
        (5000, "jpy", "5000.00"),
        (1234, "krw", "1234.00"),
        (12340, "kwd", "12.34"),
        (12345, "bhd", "12.34"),  # half-even; Stripe only takes multiples of 10 here
        (12355, "bhd", "12.36"),
        (0, "usd", "0.00"),
    ],
)
def test_amounts_use_the_currency_exponent(minor, currency, amount):
    assert amount_from_minor(minor, currency) == Decimal(amount)
    assert amount_from_minor(minor, currency).as_tuple().exponent == -2


@pytest.mark.parametrize("minor", [-1, 1.5, "100", True, None, MAX_AMOUNT_MINOR + 1])
def test_amounts_must_be_whole_non_negative_minor_units_up_to_the_maximum(minor):
    with pytest.raises(ValueError):
        amount_from_minor(minor, "usd")


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("49.99", "usd", 4999), ("5000.00", "jpy", 5000), ("12.34", "kwd", 12340), ("0.00", "usd", 0)],
)
def test_an_amount_in_minor_units_is_exact(amount, currency, minor):
    assert amount_to_minor(Decimal(amount), currency) == minor
    assert amount_from_minor(minor, currency) == Decimal(amount).quantize(CENT)


@pytest.mark.parametrize(("amount", "currency"), [("12.50", "jpy"), ("0.001", "usd"), ("1.0005", "kwd")])
def test_an_amount_below_the_minor_unit_has_no_minor_units(amount, currency):
    with pytest.raises(ValueError):
        amount_to_minor(Decimal(amount), currency)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("7250", "usd", "USD 7,250.00"),
        ("12.5", "usd", "USD 12.50"),
        ("1234567.89", "EUR", "EUR 1,234,567.89"),
        ("12000.00", "jpy", "JPY 12,000"),
        ("1200.50", "jpy", "JPY 1,200"),  # half-even to the currency's unit
        ("1.50", "kwd", "KWD 1.500"),
        ("0", "gbp", "GBP 0.00"),
        ("-7250.5", "usd", "USD -7,250.50"),
        ("-0.001", "usd", "USD 0.00"),  # rounds to zero: no sign
        ("123456789012345678901234567890.12", "usd", "USD 123,456,789,012,345,678,901,234,567,890.12"),
        ("99999999.00", "jpy", "JPY 99,999,999"),
        ("-0.00", "usd", "USD 0.00"),  # a negative zero has no sign
        ("-0", "jpy", "JPY 0"),
        ("-1234.5", "kwd", "KWD -1,234.500"),
        ("-12000", "jpy", "JPY -12,000"),
        ("999999.99", "usd", "USD 999,999.99"),  # MAX_AMOUNT_MINOR in cents
        ("99999.999", "bhd", "BHD 99,999.999"),  # MAX_AMOUNT_MINOR in fils
        ("1E+20", "eur", "EUR 100,000,000,000,000,000,000.00"),  # far beyond, in exponent notation
    ],
)
def test_money_is_formatted_with_the_code_its_decimals_and_thousands_separators(amount, currency, expected):
    assert money_format(Decimal(amount), currency) == expected


@pytest.mark.parametrize("currency", ["usd", "jpy", "kwd"])
def test_the_largest_amount_is_formatted_whole(currency):
    text = money_format(max_amount(currency), currency)
    assert text.replace(",", "").replace(".", "").endswith("99999999")


def render(source: str, **context) -> str:
    return Template("{% load money %}" + source).render(Context(context))


def test_the_template_filter_formats_like_the_function():
    assert render("{{ amount|money:currency }}", amount=Decimal("7250"), currency="usd") == "USD 7,250.00"
    assert render("{{ amount|money:'jpy' }}", amount=Decimal("12000.00")) == "JPY 12,000"
    assert render("{{ amount|money:'kwd' }}", amount="1.5") == "KWD 1.500"
    assert render("{{ amount|money:'usd' }}", amount=3) == "USD 3.00"


@pytest.mark.parametrize("amount", [None, "", "abc", Decimal("NaN"), float("inf")])
def test_the_template_filter_shows_nothing_for_what_is_no_amount(amount):
    assert render("{{ amount|money:'usd' }}", amount=amount) == ""
