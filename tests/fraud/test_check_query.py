"""What the fraud check asks of the database on every call, and what its indexes still serve."""

from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from fraud.selectors import review_customer
from fraud.services import fraud_check_create
from tests.fixtures.passes import on_postgres

pytestmark = pytest.mark.django_db
postgres_only = pytest.mark.skipif(not on_postgres(), reason="prepared statements and their plans are PostgreSQL's")


def plans() -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = 'fraud_facts'")
        return cursor.fetchone()


@postgres_only
@pytest.mark.parametrize("signals", ["off", "on"])
def test_the_counting_statement_is_never_planned_again_whatever_the_signals(settings, signals):
    # With a signal off (its window starts in the far future) PostgreSQL, left to choose, planned the statement
    # afresh on every check: three times the work of running it.
    if signals == "on":
        settings.GUARD_MAX_CARDS_PER_EMAIL_DAY = settings.GUARD_MAX_EMAILS_PER_CARD_DAY = 20
        settings.GUARD_MAX_DECLINES_PER_CARD_HOUR, settings.GUARD_MAX_PER_IP_HOUR = 20, 1000
    settings.GUARD_MAX_PER_HOUR = 1000
    for number in range(12):
        fraud_check_create(
            email=f"buyer{number}@example.com", amount=Decimal("10.00"), card_fingerprint=f"fp{number}", ip="10.0.0.1"
        )
    generic, custom = plans()
    assert custom == 0
    assert generic >= 12


def test_the_review_desk_reads_a_customer_as_given_through_the_canonical_email(settings):
    # fraud_email_time (email as given) is gone: the desk finds the email's checks by email_key, then keeps only
    # the email as given, so a plus-variant of the mailbox is not this customer's history.
    settings.GUARD_MAX_PER_HOUR = 1000
    mine = [
        fraud_check_create(email="Ann@Example.com", amount=Decimal("10.00"), card_fingerprint=f"c{n}") for n in (1, 2)
    ]
    fraud_check_create(email="ann+shop@example.com", amount=Decimal("99.00"), card_fingerprint="c9")
    file = review_customer(check=mine[1], now=timezone.now())
    assert [check.pk for check in file.checks] == [mine[0].pk]
    assert [(row.currency, row.count, row.amount) for row in file.totals_24h] == [("usd", 2, Decimal("20.00"))]
    assert file.other_cards == ["c1"]
