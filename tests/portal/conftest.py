"""The portal tests' data: the customer's payments and one of another customer (links: tests/fixtures/portal.py)."""

from datetime import timedelta
from decimal import Decimal

import pytest

from payments.models import Payment
from tests.constants import OTHER
from tests.constants import PORTAL_NOW as NOW
from tests.factories import make_payment


@pytest.fixture
def payments():
    """The customer's payments, oldest first: one of each status; and one of another customer."""
    made = [
        make_payment("pi_paid", amount=Decimal("1234.50"), created_at=NOW - timedelta(days=3)),
        make_payment("pi_refunded", status=Payment.Status.REFUNDED, created_at=NOW - timedelta(days=2)),
        make_payment("pi_failed", status=Payment.Status.FAILED, created_at=NOW - timedelta(days=1)),
        make_payment("pi_yen", amount=Decimal("1200"), currency="jpy", created_at=NOW),
    ]
    make_payment("pi_bob", email=OTHER, created_at=NOW)
    return made
