"""Labels of checks (fraud.labels) and the backtest judged by them (fraud_backtest, manage.py fraud_backtest)."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from fraud.backtest import fraud_backtest
from fraud.labels import FRAUD, LEGITIMATE, check_label
from fraud.models import FraudCheck
from fraud.rules import RuleConfig
from payments.models import Payment
from tests.constants import WEBHOOK_URL
from tests.factories import make_fraud_check, make_fraud_review, make_payment
from tests.payments import stripe_events as se

pytestmark = pytest.mark.django_db

PAID = datetime(2026, 1, 1, tzinfo=UTC)  # se.intent()'s "created"
LATER = PAID + timedelta(days=61)  # the default GUARD_LABEL_LEGIT_DAYS (60) have passed
CURRENT = RuleConfig(
    block_prepaid=False, max_per_hour=5, max_amount_day=Decimal("10000"), review_amount=Decimal("5000")
)


@pytest.fixture
def deliver(settings):
    settings.STRIPE_WEBHOOK_SECRET = se.SECRET

    def post(event: dict):
        payload = se.body(event)
        response = Client().post(
            WEBHOOK_URL, payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=se.sign(payload)
        )
        assert response.status_code == 200, response.content
        return response.json()

    return post


def paid_check(**payment_fields) -> FraudCheck:
    """An allowed check whose payment succeeded on PAID."""
    payment = make_payment(created_at=PAID, **payment_fields)
    return make_fraud_check(payment=payment, created_at=PAID)


# --- Each source of a label -------------------------------------------------


def test_a_dispute_delivered_by_stripe_labels_the_check_fraud(deliver):
    deliver(se.succeeded())
    check = make_fraud_check(payment=Payment.objects.get(provider_id="pi_123"), created_at=PAID)
    assert check_label(check, now=LATER) == LEGITIMATE
    assert deliver(se.disputed(reason="fraudulent"))["outcome"] == "processed"
    assert check_label(FraudCheck.objects.get(pk=check.pk), now=LATER) == FRAUD


def test_a_dispute_for_any_reason_counts_as_fraud(deliver):
    deliver(se.succeeded())
    check = make_fraud_check(payment=Payment.objects.get(provider_id="pi_123"), created_at=PAID)
    deliver(se.disputed(reason="product_not_received"))
    assert check_label(FraudCheck.objects.get(pk=check.pk), now=LATER) == FRAUD


def test_a_fraudulent_refund_labels_fraud_and_another_refund_labels_nothing(deliver):
    deliver(se.succeeded())
    deliver(se.succeeded(pi="pi_456", event_id="evt_ok_2"))
    fraudulent = make_fraud_check(payment=Payment.objects.get(provider_id="pi_123"), created_at=PAID)
    requested = make_fraud_check(payment=Payment.objects.get(provider_id="pi_456"), created_at=PAID)
    deliver(se.refunded(reasons=("fraudulent",)))
    deliver(se.refunded("evt_refund_2", pi="pi_456", reasons=("requested_by_customer",)))
    assert check_label(FraudCheck.objects.get(pk=fraudulent.pk), now=LATER) == FRAUD
    assert check_label(FraudCheck.objects.get(pk=requested.pk), now=LATER) is None


def test_a_review_rejected_as_fraud_labels_fraud_and_one_rejected_otherwise_does_not():
    fraud = make_fraud_review(state="rejected", resolution="fraud").fraud_check
    other = make_fraud_review(state="rejected", resolution="customer_request").fraud_check
    assert (check_label(fraud, now=LATER), check_label(other, now=LATER)) == (FRAUD, None)


def test_an_approved_review_labels_legitimate_even_without_a_payment():
    check = make_fraud_review(state="approved").fraud_check
    assert check.payment is None and check_label(check, now=LATER) == LEGITIMATE


def test_a_succeeded_payment_is_legitimate_once_old_enough(settings):
    check = paid_check()
    assert check_label(check, now=PAID + timedelta(days=60)) == LEGITIMATE  # exactly 60 days
    assert check_label(check, now=PAID + timedelta(days=60) - timedelta(seconds=1)) is None  # too recent
    settings.GUARD_LABEL_LEGIT_DAYS = 90
    assert check_label(check, now=LATER) is None


@pytest.mark.parametrize("status", ["failed", "pending"])
def test_a_payment_that_did_not_succeed_labels_nothing(status):
    assert check_label(paid_check(status=status), now=LATER) is None


def test_a_check_without_payment_or_review_labels_nothing():
    assert check_label(make_fraud_check(decision="block", created_at=PAID), now=LATER) is None


def test_fraud_wins_over_an_approval_and_an_old_success():
    check = paid_check(disputed_at=PAID + timedelta(days=70), dispute_reason="fraudulent")
    make_fraud_review(fraud_check=check, state="approved")
    assert check_label(FraudCheck.objects.get(pk=check.pk), now=LATER + timedelta(days=30)) == FRAUD


# --- Judged backtests -------------------------------------------------------


@pytest.fixture
def judged_history():
    """Eight checks, hand-labelled; PROPOSED (velocity 2, review above 1000) judged against CURRENT by hand.

    check  amount card  label       current           proposed
    A      3000   a     fraud       allow             review (review_amount)
    B      2000   b     legitimate  allow             review (review_amount)
    C      10     k     legitimate  allow             allow    (k: 0 before)
    D      10     k     fraud       allow             allow    (k: 1 before)
    E      10     k     fraud       allow             block (velocity, k: 2 before)
    H      10     k     legitimate  allow             block (velocity, k: 3 before)
    F      6000   f     legitimate  review            review (review_amount)
    G      50     g     unlabelled  allow             allow
    """
    at = iter(PAID + timedelta(minutes=10 * n) for n in range(20))

    def check(card: str, amount: str, *, decision="allow", payment=None, **payment_fields) -> FraudCheck:
        if payment_fields:
            payment = make_payment(created_at=PAID, **payment_fields)
        return make_fraud_check(
            decision=decision,
            email=f"{card}@example.com",
            card_key=card,
            card_fingerprint=card,
            amount=Decimal(amount),
            payment=payment,
            created_at=next(at),
        )

    check("a", "3000.00", disputed_at=PAID + timedelta(days=3))
    check("b", "2000.00", status="succeeded")
    check("k", "10.00", status="succeeded")
    check("k", "10.00", status="refunded", refund_reason="fraudulent")
    make_fraud_review(fraud_check=check("k", "10.00"), opened_reason="manual", state="rejected", resolution="fraud")
    check("k", "10.00", status="succeeded")
    make_fraud_review(fraud_check=check("f", "6000.00", decision="review"), state="approved")
    check("g", "50.00")


PROPOSED = RuleConfig(
    block_prepaid=False, max_per_hour=2, max_amount_day=Decimal("10000"), review_amount=Decimal("1000")
)


def test_the_backtest_judges_current_and_proposed_settings_by_the_labels(judged_history):
    report = fraud_backtest(since=PAID - timedelta(days=1), config=PROPOSED, current=CURRENT, now=LATER)
    assert dict(report.labels) == {FRAUD: 3, LEGITIMATE: 4, None: 1}
    now, new = report.current, report.proposed
    assert (now.checks, now.fraud, now.legitimate) == (new.checks, new.fraud, new.legitimate) == (8, 3, 4)
    assert (now.fraud_caught_rate, now.good_blocked_rate, now.review_load) == (Fraction(0), Fraction(0), Fraction(1, 8))
    assert now.rules == ["review_amount"]
    assert (now.precision("review_amount"), now.recall("review_amount")) == (Fraction(0), Fraction(0))
    assert (new.fraud_caught, new.fraud_caught_rate) == (2, Fraction(2, 3))
    assert (new.good_blocked, new.good_blocked_rate, new.good_reviewed) == (1, Fraction(1, 4), 2)
    assert new.review_load == Fraction(3, 8)
    assert (new.precision("review_amount"), new.recall("review_amount")) == (Fraction(1, 3), Fraction(1, 3))
    assert (new.precision("velocity"), new.recall("velocity")) == (Fraction(1, 2), Fraction(1, 3))
    assert new.precision("prepaid") is None and new.recall("prepaid") == 0
    # The before x after table is still the stored decisions against the proposed ones.
    assert report.table[("allow", "review")] == 2 and report.table[("allow", "block")] == 2 and report.changed == 4


def test_without_labels_every_ratio_is_undefined_not_zero():
    make_fraud_check(created_at=PAID)
    metrics = fraud_backtest(since=PAID - timedelta(days=1), config=CURRENT, current=CURRENT, now=LATER).proposed
    assert (metrics.fraud_caught_rate, metrics.good_blocked_rate, metrics.review_load) == (None, None, Fraction(0))


def test_the_labels_are_read_in_the_one_query_not_per_check(django_assert_max_num_queries, judged_history):
    since = PAID - timedelta(days=1)
    with django_assert_max_num_queries(3):  # the list entries exist?, the checks (one chunk), nothing per check
        report = fraud_backtest(since=since, config=PROPOSED, current=CURRENT, now=LATER)
    assert report.total == 8
    bulk = {check.check_id: check_label(check, now=LATER) for check in FraudCheck.objects.all()}
    assert sorted(bulk.values(), key=str) == sorted(report.labels.elements(), key=str)


def test_the_command_prints_the_labelled_figures_of_both_settings(judged_history, settings):
    settings.GUARD_MAX_PER_HOUR, settings.GUARD_REVIEW_AMOUNT = 5, Decimal("5000")
    settings.GUARD_LABEL_LEGIT_DAYS = (datetime.now(UTC) - PAID).days - 1  # PAID's payments are old enough now
    out = StringIO()
    args = ["--since", "2025-12-31", "--max-per-hour", "2", "--review-amount", "1000"]
    call_command("fraud_backtest", *args, stdout=out, stderr=StringIO())
    lines = out.getvalue().splitlines()
    assert "4 decisions would change." in lines
    assert any(line.startswith("Labels: 3 fraud, 4 legitimate, 1 unlabelled") for line in lines)
    rows = {line[:32].strip(): line[32:].split() for line in lines}
    assert rows["fraud caught (of 3)"] == ["0", "(0.0%)", "2", "(66.7%)"]
    assert rows["good blocked (of 4)"] == ["0", "(0.0%)", "1", "(25.0%)"]
    assert rows["review load (of 8)"] == ["1", "(12.5%)", "3", "(37.5%)"]
    rules = {line.split()[0]: line.split()[1:] for line in lines if line.startswith(("velocity ", "review_amount "))}
    assert rules == {"review_amount": ["0.0%", "0.0%", "33.3%", "33.3%"], "velocity": ["-", "0.0%", "50.0%", "33.3%"]}

    out = StringIO()
    call_command("fraud_backtest", *args, "--json", stdout=out, stderr=StringIO())
    data = json.loads(out.getvalue())
    assert (data["checks"], data["changed"], data["labels"]) == (8, 4, {"fraud": 3, "legitimate": 4, "unlabelled": 1})
    assert data["proposed"]["rules"]["velocity"] == {
        "flagged_fraud": 1,
        "flagged_legitimate": 1,
        "precision": "0.5000",
        "recall": "0.3333",
    }
    assert data["current"]["review_load"] == "0.1250" and data["proposed"]["fraud_caught_rate"] == "0.6667"
