"""Issue #15, items 1 and 2: counting under the canonical email, and the card-testing signals, against the database."""

import importlib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fraud.models import FraudCheck, ListEntry
from fraud.services import fraud_check_create
from payments.models import Payment
from tests.factories import make_fraud_check, make_payment
from tests.fixtures.database import at_once

pytestmark = pytest.mark.django_db


def check(**fields):
    return fraud_check_create(**{"email": "buyer@example.com", "amount": Decimal("10.00"), **fields})


# Item 1: identity.


def test_plus_variants_share_one_daily_limit_and_keep_their_email(settings):
    settings.GUARD_MAX_AMOUNT_DAY = Decimal("10000")
    settings.GUARD_MAX_PER_HOUR = 1000
    results = [check(email=f"daily+{n}@x.com", amount=Decimal("900.00"), card_fingerprint=f"c{n}") for n in range(20)]
    assert [result.decision for result in results] == ["allow"] * 11 + ["block"] * 9
    assert results[11].reason == "daily_limit_exceeded_10800.00"  # the reason string is the original's
    stored = FraudCheck.objects.get(pk=results[3].pk)
    assert (stored.email, stored.email_key) == ("daily+3@x.com", "daily@x.com")


def test_gmail_dots_and_googlemail_are_one_mailbox_for_the_daily_limit(settings):
    settings.GUARD_MAX_AMOUNT_DAY = Decimal("1000")
    assert check(email="jane.doe@gmail.com", amount=Decimal("600.00")).decision == "allow"
    blocked = check(email="janedoe+shop@googlemail.com", amount=Decimal("600.00"))
    assert (blocked.decision, blocked.reason) == ("block", "daily_limit_exceeded_1200.00")
    assert check(email="jane.doe@example.com", amount=Decimal("600.00")).decision == "allow"  # dots count elsewhere
    assert check(email="janedoe@example.com", amount=Decimal("600.00")).decision == "allow"


def test_the_dot_domains_are_a_setting(settings):
    settings.GUARD_MAX_AMOUNT_DAY = Decimal("1000")
    settings.GUARD_CANONICAL_DOT_DOMAINS = []
    check(email="jane.doe@gmail.com", amount=Decimal("600.00"))
    assert check(email="janedoe@gmail.com", amount=Decimal("600.00")).decision == "allow"


def test_without_a_fingerprint_the_card_is_the_canonical_email(settings):
    settings.GUARD_MAX_PER_HOUR = 3
    decisions = [check(email=f"Card.Tester+{n}@gmail.com").decision for n in range(4)]
    assert decisions == ["allow", "allow", "allow", "block"]
    assert set(FraudCheck.objects.values_list("card_key", flat=True)) == {"email:cardtester@gmail.com"}


def test_the_migration_fills_the_key_of_existing_checks_in_batches(monkeypatch):
    old = [
        make_fraud_check(email="Old+Tag@gmail.com", email_key="", card_key="email:old+tag@gmail.com"),
        make_fraud_check(email="a.b@x.com", email_key="", card_fingerprint="fp1", card_key="card:fp1"),
        make_fraud_check(email="c+d@x.com", email_key=""),
    ]
    migration = importlib.import_module("fraud.migrations.0004_email_key_and_ip")
    monkeypatch.setattr(migration, "BATCH", 2)
    migration.fill_email_keys(apps, None)
    rows = {row.pk: row for row in FraudCheck.objects.all()}
    assert [(rows[c.pk].email, rows[c.pk].email_key, rows[c.pk].card_key) for c in old] == [
        ("Old+Tag@gmail.com", "old@gmail.com", "email:old@gmail.com"),
        ("a.b@x.com", "a.b@x.com", "card:fp1"),  # a card keeps its fingerprint's key
        ("c+d@x.com", "c@x.com", "email:c@x.com"),
    ]


# Item 2: the signals. Each is off by default, fires at its limit and not below.


def test_every_check_is_still_one_round_trip_with_every_signal_on(settings):
    settings.GUARD_MAX_CARDS_PER_EMAIL_DAY = 3
    settings.GUARD_MAX_EMAILS_PER_CARD_DAY = 3
    settings.GUARD_MAX_DECLINES_PER_CARD_HOUR = 3
    settings.GUARD_MAX_PER_IP_HOUR = 3
    check(card_fingerprint="warm", ip="10.0.0.1")  # a connection that has prepared its statement
    with CaptureQueriesContext(connection) as queries:
        check(card_fingerprint="fp", ip="10.0.0.1")
    reads = [query["sql"] for query in queries if query["sql"].lstrip().upper().startswith("SELECT")]
    assert len(reads) == 1, reads  # PostgreSQL: the locks and the prepared count; SQLite: the count
    assert sum("INSERT" in query["sql"] for query in queries) == 1


def test_cards_per_email(settings):
    settings.GUARD_MAX_PER_HOUR = 1000
    assert [check(email=f"t+{n}@x.com", card_fingerprint=f"card{n}").decision for n in range(6)] == ["allow"] * 6
    settings.GUARD_MAX_CARDS_PER_EMAIL_DAY = 6
    assert check(email="t@x.com", card_fingerprint="card0").decision == "allow"  # a card seen before is no new one
    assert check(email="t@x.com").decision == "allow"  # nor is a check without a card
    blocked = check(email="T+7@x.com", card_fingerprint="card6")
    assert (blocked.decision, blocked.rule, blocked.reason, blocked.limit) == (
        "block",
        "cards_per_email",
        "cards_per_email_exceeded_7_per_day",
        "6",
    )
    assert blocked.observed["cards_per_email"] == 7


def test_cards_per_email_forget_yesterday(settings):
    settings.GUARD_MAX_CARDS_PER_EMAIL_DAY = 1
    make_fraud_check(
        email="t@x.com", card_fingerprint="old", card_key="card:old", created_at=timezone.now() - timedelta(hours=25)
    )
    assert check(email="t@x.com", card_fingerprint="new").decision == "allow"
    assert check(email="t@x.com", card_fingerprint="newer").reason == "cards_per_email_exceeded_2_per_day"


def test_emails_per_card(settings):
    settings.GUARD_MAX_PER_HOUR = 1000
    for email in ["a@x.com", "b@x.com", "a+again@x.com"]:
        assert check(email=email, card_fingerprint="shared").decision == "allow"
    settings.GUARD_MAX_EMAILS_PER_CARD_DAY = 2
    assert check(email="b+2@x.com", card_fingerprint="shared").decision == "allow"  # b is no new email
    assert check(email="c@x.com").decision == "allow"  # without a card there is nothing to share
    blocked = check(email="c@x.com", card_fingerprint="shared")
    assert (blocked.rule, blocked.reason, blocked.limit) == (
        "emails_per_card",
        "emails_per_card_exceeded_3_per_day",
        "2",
    )


def test_a_card_testing_burst_is_blocked_by_the_declines_rule(settings):
    """An attacker tries one card under emails on the block list, then with a fresh one."""
    settings.GUARD_MAX_DECLINES_PER_CARD_HOUR = 3
    for n in range(3):
        ListEntry.objects.create(action="block", kind="email", value=f"burner{n}@x.com")
    results = [check(email=f"burner{n}@x.com", card_fingerprint="stolen") for n in range(3)]
    assert [result.reason for result in results] == ["blocklisted_email"] * 3
    blocked = check(email="fresh@x.com", card_fingerprint="stolen")
    assert (blocked.decision, blocked.rule, blocked.reason, blocked.limit) == (
        "block",
        "card_declines",
        "card_declines_exceeded_3_per_hour",
        "3",
    )
    assert check(email="fresh@x.com", card_fingerprint="other").decision == "allow"


def test_declined_payments_of_the_card_count(settings):
    settings.GUARD_MAX_DECLINES_PER_CARD_HOUR = 3
    now = timezone.now()
    for _ in range(2):
        make_payment(status=Payment.Status.FAILED, card_fingerprint="fpd", created_at=now, updated_at=now)
    make_payment(status=Payment.Status.SUCCEEDED, card_fingerprint="fpd", created_at=now, updated_at=now)
    make_payment(status=Payment.Status.FAILED, card_fingerprint="fpd", updated_at=now - timedelta(minutes=61))
    make_payment(status=Payment.Status.FAILED, card_fingerprint="", updated_at=now)
    assert check(card_fingerprint="fpd").decision == "allow"  # two declines, the limit is three
    make_fraud_check(card_fingerprint="fpd", card_key="card:fpd", decision="block")
    assert check(card_fingerprint="fpd").reason == "card_declines_exceeded_3_per_hour"


def test_the_ip_velocity(settings):
    settings.GUARD_MAX_PER_HOUR = 1000
    for n in range(4):
        assert check(email=f"u{n}@x.com", card_fingerprint=f"c{n}", ip="203.0.113.9").decision == "allow"
    check(ip="203.0.113.10")
    check()
    settings.GUARD_MAX_PER_IP_HOUR = 5
    assert check(ip="203.0.113.9").decision == "allow"  # the fifth
    blocked = check(ip="203.0.113.9")
    assert (blocked.rule, blocked.reason, blocked.limit) == ("ip_velocity", "ip_velocity_exceeded_5_per_hour", "5")
    assert check().decision == "allow"  # no IP, nothing counted
    assert check(ip="203.0.113.10").decision == "allow"


def test_every_signal_is_off_by_default(settings):
    settings.GUARD_MAX_PER_HOUR = 1000
    for n in range(8):
        ListEntry.objects.create(action="block", kind="email", value=f"b{n}@x.com")
        check(email=f"b{n}@x.com", card_fingerprint="hot", ip="::1")
        check(email="many@x.com", card_fingerprint=f"card{n}", ip="::1")
    assert check(email="b9@x.com", card_fingerprint="hot").reason == "all_checks_passed"
    assert check(email="many@x.com", card_fingerprint="card9").reason == "all_checks_passed"
    assert check(email="z@x.com", card_fingerprint="z", ip="::1").reason == "all_checks_passed"


# The API's optional ip field.


def test_the_api_takes_and_stores_an_ip(api):
    answer = api.post(
        "/api/fraud/check",
        {"email": "a@example.com", "amount": "10.00", "ip": "2001:DB8:0:0:0:0:0:1"},
        format="json",
    ).json()
    assert answer["decision"] == "allow"
    assert FraudCheck.objects.get(check_id=answer["check_id"]).ip == "2001:db8::1"
    answer = api.post("/api/fraud/check", {"email": "b@example.com", "amount": "10.00", "ip": None}, format="json")
    assert answer.status_code == 200 and FraudCheck.objects.get(email="b@example.com").ip is None


@pytest.mark.parametrize(
    "ip", ["", "999.1.1.1", "1.2.3", "localhost", "1.2.3.4\x00", "<b>1.2.3.4</b>", "::g", 42, "1" * 300]
)
def test_a_bad_ip_is_a_400_naming_the_field(api, ip):
    response = api.post("/api/fraud/check", {"email": "a@example.com", "amount": "10.00", "ip": ip}, format="json")
    assert response.status_code == 400, response.json()
    assert list(response.json()["fields"]) == ["ip"]
    assert not FraudCheck.objects.exists()


def test_the_schema_documents_the_ip(api):
    schema = api.get("/api/schema/?format=json").json()
    ip = schema["components"]["schemas"]["CheckInputRequest"]["properties"]["ip"]
    assert "IPv4 or IPv6" in ip["description"]
    assert [branch["format"] for branch in ip["anyOf"]] == ["ipv4", "ipv6"]


# At once: 50 plus-variants of one mailbox wait for each other (PostgreSQL: on one advisory lock).


@pytest.mark.django_db(transaction=True)
def test_fifty_parallel_plus_variants_allow_exactly_what_the_daily_limit_allows(settings):
    settings.GUARD_MAX_AMOUNT_DAY = Decimal("10000")
    settings.GUARD_MAX_PER_HOUR = 1000

    def work(index):
        return check(email=f"Daily+{index}@x.com", amount=Decimal("900.00"), card_fingerprint=f"card{index}").decision

    decisions = at_once(50, work)
    assert decisions.count("allow") == 11, decisions
    assert decisions.count("block") == 39
    assert FraudCheck.objects.filter(email_key="daily@x.com").count() == 50


@pytest.mark.django_db(transaction=True)
def test_a_parallel_card_testing_burst_is_held_to_the_limits(settings):
    settings.GUARD_MAX_PER_HOUR = 1000
    settings.GUARD_MAX_EMAILS_PER_CARD_DAY = 4

    def work(index):
        return check(email=f"tester{index}@x.com", card_fingerprint="stolen", ip="198.51.100.7").decision

    decisions = at_once(30, work)
    assert decisions.count("allow") == 4, decisions


def test_a_signal_that_is_off_is_not_counted_and_one_that_is_on_is():
    """Off signals get an empty window (no scan; the default fraud check pays nothing for them)."""
    from fraud.rules import RuleConfig
    from fraud.selectors import locked_facts

    for n in range(3):
        check(email="many@example.com", card_fingerprint=f"c{n}", ip="10.0.0.1")
    make_payment("pi_declined", status=Payment.Status.FAILED, card_fingerprint="c0")

    def facts(config):
        return locked_facts(
            card_key="card:c0", email="many@example.com", email_key="many@example.com", currency="usd",
            card_fingerprint="c0", payment_id=None, now=timezone.now(), ip="10.0.0.1", uncounted=config.uncounted,
        )  # fmt: skip

    off = RuleConfig.from_settings()
    assert off.uncounted == {"cards_per_email", "emails_per_card", "card_declines", "ip_count"}
    stored = facts(off)
    assert (stored.other_cards, stored.card_declines, stored.ip_count) == (0, 0, 0)
    on = RuleConfig.from_settings(
        max_cards_per_email_day=9, max_emails_per_card_day=9, max_declines_per_card_hour=9, max_per_ip_hour=9
    )
    assert on.uncounted == frozenset()
    stored = facts(on)
    assert (stored.other_cards, stored.card_declines, stored.ip_count) == (2, 1, 3)
