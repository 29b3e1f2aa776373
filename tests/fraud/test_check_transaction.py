"""The check's own transaction on PostgreSQL: two round trips (BEGIN with the count, COMMIT with the insert) when the
caller holds no transaction, and nothing written or left open when anything fails. SQLite and callers inside a
transaction use Django's atomic(), which the rest of tests/fraud covers."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from psycopg.pq import TransactionStatus

from fraud import services
from fraud.models import FraudCheck, FraudReview, RuleSet
from fraud.rulesets import ruleset_draft
from fraud.services import fraud_check_create

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the check's own transaction is PostgreSQL's; SQLite uses atomic()")


def check(**fields):
    return fraud_check_create(**{"email": "buyer@example.com", "amount": Decimal("10.00"), **fields})


def idle() -> bool:
    return connection.connection.info.transaction_status == TransactionStatus.IDLE


def test_an_allowed_check_is_two_round_trips_and_leaves_no_transaction_open():
    check(card_fingerprint="warm")  # the connection prepares its statement once
    with CaptureQueriesContext(connection) as queries:
        result = check(card_fingerprint="fp")
    sent = [query["sql"] for query in queries]
    assert len(sent) == 2, sent
    assert sent[0].startswith("BEGIN; SELECT pg_advisory_xact_lock(")
    assert sent[1].startswith("INSERT INTO") and sent[1].endswith("; COMMIT")
    assert idle()
    assert FraudCheck.objects.get(pk=result.pk).check_id == result.check_id


def test_a_review_commits_the_check_and_its_review_together(settings, read_audit):
    settings.GUARD_REVIEW_AMOUNT = Decimal("5")
    result = check()
    assert idle()
    assert FraudReview.objects.get(fraud_check_id=result.pk).state == "open"
    [line] = [line for line in read_audit("fraud_guard") if line["event"] == "fraud_check"]
    assert line["decision"] == "review"


def test_a_replayed_payment_id_answers_the_stored_check_and_ends_the_transaction():
    first = check(payment_id="pi_1")
    assert check(payment_id="pi_1").pk == first.pk
    assert idle()
    assert FraudCheck.objects.count() == 1


def test_a_failed_insert_is_rolled_back_and_nothing_is_written(monkeypatch, read_audit):
    def broken(self, check, *, commit):
        raise IntegrityError("refused")

    monkeypatch.setattr(services._Transaction, "insert", broken)
    with pytest.raises(IntegrityError):
        check()
    assert idle()
    assert FraudCheck.objects.count() == 0
    assert read_audit("fraud_guard") == []
    monkeypatch.undo()
    assert check().decision == "allow"  # the connection is usable, its locks released


def test_rules_that_key_emails_differently_start_the_check_again_in_a_new_transaction():
    assert check(email="j.doe@gmail.com").email_key == "jdoe@gmail.com"
    draft = ruleset_draft(note="no dot domains", by="user:ann", dot_domains=[])
    RuleSet.objects.filter(pk=draft.pk).update(state="active")
    result = check(email="j.doe@gmail.com")
    assert (result.email_key, result.ruleset_version) == ("j.doe@gmail.com", "v2")
    assert idle()
    assert FraudCheck.objects.count() == 2


def test_a_shadow_counting_ips_takes_no_ip_lock_the_ruling_rules_do_not_need():
    from fraud.rulesets import ruleset_shadow_start

    ruleset_shadow_start(ruleset=ruleset_draft(note="IPs", by="user:ann", max_per_ip_hour=2), by="user:ann")
    check(card_fingerprint="warm", ip="203.0.113.9")  # this process learns of the shadow
    with CaptureQueriesContext(connection) as queries:
        result = check(card_fingerprint="fp", ip="203.0.113.9")
    assert queries[0]["sql"].count("pg_advisory_xact_lock(") == 2  # the card's and the email's
    assert result.shadow_version == "v2"
    assert FraudCheck.objects.get(pk=result.pk).shadow_decision == "allow"


def test_ruling_rules_that_count_ips_lock_the_ip():
    draft = ruleset_draft(note="IPs", by="user:ann", max_per_ip_hour=2)
    RuleSet.objects.filter(pk=draft.pk).update(state="active")
    check(card_fingerprint="warm", ip="203.0.113.9")
    with CaptureQueriesContext(connection) as queries:
        check(card_fingerprint="fp", ip="203.0.113.9")
    assert queries[0]["sql"].count("pg_advisory_xact_lock(") == 3
