from decimal import Decimal

import pytest

from fraud.services import fraud_check_create


@pytest.fixture
def review_check():
    """A check the rules send to review (a large amount): it has an open review."""
    return fraud_check_create(email="big@example.com", amount=Decimal("6000.00"), card_fingerprint="fpX")
