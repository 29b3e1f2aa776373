import re
import threading
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from echopilot.models import Heartbeat
from fraud.backtest import fraud_backtest
from fraud.models import FraudCheck, FraudReview
from fraud.rules import RuleConfig
from observability.housekeeping import audit_week_run
from payments.models import Payment, WebhookEvent

pytestmark = pytest.mark.django_db


def seed(*args, stderr=None) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out, stderr=stderr if stderr is not None else StringIO())
    return out.getvalue()


@pytest.mark.slow
def test_it_seeds_payments_events_and_customers():
    output = seed("--payments", "2000", "--days", "7", "--seed", "1")
    assert "seeded 2000 payments of 100 customers over 7 days" in output
    assert Payment.objects.count() == WebhookEvent.objects.count() == 2000
    assert Payment.objects.values("email").distinct().count() <= 110  # the customers and a card tester or two
    statuses = dict(Payment.objects.values_list("status").annotate(n=Count("id")))
    assert statuses["succeeded"] > 1700
    assert 20 < statuses["failed"] < 120
    assert 40 < statuses["refunded"] < 180
    assert Payment.objects.filter(card_type="prepaid").exists()
    assert all(p.amount.as_tuple().exponent == -2 and p.amount > 0 for p in Payment.objects.all()[:100])


@pytest.mark.slow
def test_failed_events_leave_pending_payments_that_replay_fixes():
    seed("--payments", "3000", "--seed", "7")
    failed = WebhookEvent.objects.filter(status="failed").count()
    assert failed == Payment.objects.filter(status="pending").count() > 0
    call_command("replay_webhooks", stdout=StringIO(), stderr=StringIO())
    assert not Payment.objects.filter(status="pending").exists()
    assert not WebhookEvent.objects.filter(status="failed").exists()


class Undo(Exception):
    pass


def seeded_then_undone(seed_value: str) -> list[tuple]:
    """The payments and checks one seed produces, rolled back afterwards."""
    try:
        with transaction.atomic():
            seed("--payments", "50", "--seed", seed_value)
            rows = list(Payment.objects.order_by("provider_id").values_list("provider_id", "email", "amount", "status"))
            rows += list(FraudCheck.objects.order_by("check_id").values_list("check_id", "payment_ref", "decision"))
            raise Undo
    except Undo:
        return rows


def test_the_same_seed_gives_the_same_data():
    assert seeded_then_undone("3") == seeded_then_undone("3") != seeded_then_undone("4")


def test_the_same_seed_twice_is_refused_without_partial_rows():
    seed("--payments", "50", "--seed", "3")
    with pytest.raises(CommandError, match="another --seed"):
        seed("--payments", "60", "--seed", "3")
    assert Payment.objects.count() == 50
    assert FraudCheck.objects.filter(payment_ref__in=Payment.objects.values("provider_id")).count() == 50


@pytest.mark.parametrize(
    "args",
    [
        ("--payments", "0"),
        ("--payments", "10000001"),
        ("--days", "0"),
        ("--days", "100000000"),
        ("--batch-seconds", "0"),
        ("--batch-seconds", "nan"),
        ("--batch-seconds", "inf"),
    ],
)
def test_it_refuses_options_out_of_range(args):
    with pytest.raises(CommandError, match="--"):
        seed(*args)
    assert not Payment.objects.exists() and not FraudCheck.objects.exists()


def test_seeded_events_and_checks_have_their_audit_lines(read_audit, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        seed("--payments", "300", "--days", "6", "--seed", "5")
    lines = [line for line in read_audit("payments") if line["event"] == "demo_seeded"]
    assert sorted(line["event_id"] for line in lines) == sorted(WebhookEvent.objects.values_list("event_id", flat=True))
    checks = [line for line in read_audit("fraud_guard") if line["event"] == "demo_seeded"]
    assert sorted(line["check_id"] for line in checks) == sorted(FraudCheck.objects.values_list("check_id", flat=True))
    found = audit_week_run()["streams"]
    webhooks, fraud = found["webhook_events"], found["fraud_checks"]
    assert (webhooks["rows"], webhooks["missing_in_log"], webhooks["missing_in_db"]) == (300, 0, 0)
    assert fraud["rows"] == FraudCheck.objects.count() >= 300
    assert (fraud["missing_in_log"], fraud["missing_in_db"]) == (0, 0)


@pytest.mark.slow
def test_every_payment_was_checked_before_it_and_blocked_attempts_were_not_charged():
    seed("--payments", "3000", "--days", "7", "--seed", "11")
    checks = {check.payment_ref: check for check in FraudCheck.objects.all()}
    for payment in Payment.objects.all():
        check = checks.pop(payment.provider_id)
        assert check.decision in ("allow", "review")
        assert (check.email, check.amount, check.currency) == (payment.email, payment.amount, payment.currency)
        assert (check.card_type, check.card_fingerprint) == (payment.card_type, payment.card_fingerprint)
        assert check.created_at < payment.created_at
    assert checks and {check.decision for check in checks.values()} == {"block"}
    reasons = {check.reason.split("_")[0] for check in checks.values()}
    assert "velocity" in reasons  # card-testing bursts ran into the hourly limit


@pytest.mark.slow
def test_reviews_form_a_queue_and_older_ones_are_closed():
    seed("--payments", "3000", "--days", "7", "--seed", "11")
    reviews = FraudReview.objects.select_related("fraud_check")
    assert {review.fraud_check.decision for review in reviews} == {"review"}
    assert reviews.count() == FraudCheck.objects.filter(decision="review").count()
    open_reviews = reviews.filter(state="open")
    assert open_reviews.exists() and reviews.filter(state="approved").exists()
    assert open_reviews.filter(opened_at__gte=timezone.now() - timedelta(days=2)).exists()
    for review in reviews.exclude(state="open"):
        assert review.fraud_check.created_at < review.closed_at < timezone.now()
    for review in reviews.filter(state="rejected"):
        assert Payment.objects.get(provider_id=review.fraud_check.payment_ref).status == "refunded"


@pytest.mark.slow
def test_the_backtest_under_the_seeds_settings_changes_no_decision():
    seed("--payments", "3000", "--days", "7", "--seed", "11")
    config = RuleConfig.from_settings()
    report = fraud_backtest(since=timezone.now() - timedelta(days=8), config=config)
    assert report.total == FraudCheck.objects.count() > 3000
    assert report.changed == 0
    assert set(FraudCheck.objects.values_list("ruleset_version", flat=True)) == {config.version}
    stricter = fraud_backtest(
        since=timezone.now() - timedelta(days=8), config=RuleConfig.from_settings(review_amount=100)
    )
    assert stricter.table[("allow", "review")] > 0


@pytest.mark.slow
def test_it_prints_plain_progress_lines_when_not_on_a_terminal():
    err = StringIO()
    seed("--payments", "2000", "--seed", "2", stderr=err)
    lines = err.getvalue().splitlines()
    assert "\r" not in err.getvalue()
    assert len(lines) >= 2
    assert all(re.fullmatch(r"seed_demo: [\d,]+/2,000 payments \(\d+%, \d+ s\)", line) for line in lines)
    assert lines[-1].startswith("seed_demo: 2,000/2,000 payments (100%")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_service_keeps_writing_while_the_seed_runs():
    """Another connection's write transactions get through between seed_demo's batches, and see them.

    On SQLite every write transaction needs the one write lock: demo data in one transaction
    would hold it throughout, and the writer would get in only after seed_demo (or fail with
    "database is locked" after the busy timeout). On PostgreSQL nothing blocks the writer,
    but it would see no payment before a single commit.
    """
    total = 5000
    failures = []

    def run_seed():
        try:
            seed("--payments", str(total), "--seed", "21")
        except Exception as exc:  # asserted below
            failures.append(repr(exc))
        finally:
            connection.close()

    seeding = threading.Thread(target=run_seed)
    seeding.start()
    writes_during_seed, counts_seen = 0, set()
    while seeding.is_alive():
        with transaction.atomic():  # BEGIN IMMEDIATE on SQLite: waits for the write lock
            Heartbeat.objects.create(node="api", pid=1)
            payments = Payment.objects.count()
        if seeding.is_alive():
            writes_during_seed += 1
            counts_seen.add(payments)
        time.sleep(0.01)
    seeding.join()
    assert failures == []
    assert Payment.objects.count() == total
    assert writes_during_seed >= 4
    assert len({count for count in counts_seen if 0 < count < total}) >= 3
