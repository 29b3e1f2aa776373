"""What the fraud check asks PostgreSQL on every call: one prepared counting statement, planned once."""

from decimal import Decimal

import pytest
from django.db import connection

from fraud.services import fraud_check_create
from tests.fixtures.passes import on_postgres

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not on_postgres(), reason="prepared statements and their plans are PostgreSQL's"),
]


def plans() -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = 'fraud_facts'")
        return cursor.fetchone()


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
