"""Limits hold when many checks arrive at once (real threads, real transactions)."""

from decimal import Decimal

import pytest
from django.test import Client

from echopilot.exceptions import Conflict
from fraud.models import FraudCheck, FraudReview
from fraud.selectors import fraud_check_get
from fraud.services import fraud_check_create, fraud_review_act
from tests.fixtures.database import at_once

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.slow
def test_fifty_simultaneous_checks_of_one_card_allow_exactly_the_maximum(settings):
    settings.GUARD_MAX_PER_HOUR = 5
    client_key = {"HTTP_X_DASH_KEY": "test-dash-key-1"}

    def work(index):
        response = Client().post(
            "/api/fraud/check",
            {"email": f"buyer{index}@example.com", "amount": "10.00", "card_fingerprint": "same-card"},
            content_type="application/json",
            **client_key,
        )
        return response.status_code, response.json()["decision"]

    results = at_once(50, work)
    assert all(status == 200 for status, _ in results), results
    decisions = [decision for _, decision in results]
    assert decisions.count("allow") == 5
    assert decisions.count("block") == 45
    assert FraudCheck.objects.filter(card_key="card:same-card").count() == 50


def test_parallel_checks_never_exceed_the_daily_amount(settings):
    settings.GUARD_MAX_AMOUNT_DAY = Decimal("10000")
    settings.GUARD_MAX_PER_HOUR = 1000

    def work(index):
        # One customer, different cards, each 1,500: at most six fit under 10,000.
        result = fraud_check_create(email="big@example.com", amount=Decimal("1500.00"), card_fingerprint=f"card{index}")
        return result.decision

    decisions = at_once(20, work)
    assert decisions.count("allow") == 6, decisions
    allowed = sum(c.amount for c in FraudCheck.objects.filter(decision__in=["allow", "review"]))
    assert allowed <= Decimal("10000")


def test_two_reviewers_closing_at_once_close_a_review_once():
    check = fraud_check_create(email="r@example.com", amount=Decimal("6000.00"))
    review = FraudReview.objects.get(fraud_check=check)

    def work(index):
        action = "approve" if index % 2 == 0 else "reject"
        try:
            mine = fraud_check_get(check_id=check.check_id)  # each reviewer's own request
            fraud_review_act(check=mine, action=action, resolution="other", by=f"user:r{index}")
        except Conflict as refused:
            return refused.code
        return "closed"

    outcomes = at_once(8, work)
    assert outcomes.count("closed") == 1 and outcomes.count("review_closed") == 7, outcomes
    review.refresh_from_db()
    assert review.state in ("approved", "rejected") and review.closed_by.startswith("user:r")
