from decimal import Decimal

import pytest

from payments.models import Payment
from payments.rules import amount_from_minor, normalize_email, status_advances

S = Payment.Status


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.PENDING, S.FAILED),
        (S.PENDING, S.SUCCEEDED),
        (S.FAILED, S.SUCCEEDED),
        (S.SUCCEEDED, S.REFUNDED),
        (S.PENDING, S.REFUNDED),
    ],
)
def test_status_moves_forward(current, new):
    assert status_advances(current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.SUCCEEDED, S.FAILED),
        (S.REFUNDED, S.SUCCEEDED),
        (S.REFUNDED, S.FAILED),
        (S.FAILED, S.PENDING),
        (S.SUCCEEDED, S.SUCCEEDED),
    ],
)
def test_status_never_moves_back_or_repeats(current, new):
    assert not status_advances(current, new)


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


@pytest.mark.parametrize("minor", [-1, 1.5, "100", True, None])
def test_amounts_must_be_whole_non_negative_minor_units(minor):
    with pytest.raises(ValueError):
        amount_from_minor(minor, "usd")


def test_emails_are_trimmed_and_lowercased():
    assert normalize_email("  Ada@Example.COM ") == "ada@example.com"
    assert normalize_email(None) == ""
