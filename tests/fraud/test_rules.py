"""The documented rules as pure functions: order, reason strings, thresholds (no database)."""

from dataclasses import replace
from decimal import Decimal

import pytest

from fraud.rules import Facts, RuleConfig, canonical_email, decide

CONFIG = RuleConfig(
    block_prepaid=False,
    max_per_hour=5,
    max_amount_day=Decimal("10000"),
    review_amount=Decimal("5000"),
    email_allow=frozenset({"vip@example.com"}),
)


def facts(**overrides):
    values = {
        "email": "a@example.com",
        "amount": Decimal("10.00"),
        "card_type": "credit",
        "recent_count": 0,
        "daily_total": Decimal("0"),
    }
    return Facts(**{**values, **overrides})


def test_a_plain_payment_passes():
    decision = decide(facts(), CONFIG)
    assert (decision.outcome, decision.reason, decision.rule) == ("allow", "all_checks_passed", "default")


def test_the_allowlist_wins_over_every_other_rule():
    decision = decide(
        facts(email="vip@example.com", amount=Decimal("99999"), recent_count=50, card_type="prepaid"), CONFIG
    )
    assert (decision.outcome, decision.reason) == ("allow", "allowlisted")


def test_an_allow_list_entry_also_allowlists():
    assert decide(facts(allow_hit="domain", block_hit="email"), CONFIG).reason == "allowlisted"


def test_a_block_list_hit_blocks_before_the_other_rules():
    decision = decide(facts(block_hit="card", amount=Decimal("1")), CONFIG)
    assert (decision.outcome, decision.reason, decision.rule) == ("block", "blocklisted_card", "blocklist")


def test_prepaid_cards_are_blocked_only_when_configured():
    assert decide(facts(card_type="prepaid"), CONFIG).outcome == "allow"
    strict = replace(CONFIG, block_prepaid=True)
    assert decide(facts(card_type="prepaid"), strict).reason == "prepaid_card_blocked"


@pytest.mark.parametrize(
    ("recent", "outcome", "reason"),
    [
        (4, "allow", "all_checks_passed"),
        (5, "block", "velocity_exceeded_5_per_hour"),
        (10, "block", "velocity_exceeded_10_per_hour"),
    ],
)
def test_velocity_blocks_from_the_maximum_on(recent, outcome, reason):
    decision = decide(facts(recent_count=recent), CONFIG)
    assert (decision.outcome, decision.reason) == (outcome, reason)


@pytest.mark.parametrize(
    ("daily", "amount", "outcome", "reason"),
    [
        ("9990.00", "10.00", "allow", "all_checks_passed"),  # exactly at the limit is still allowed
        ("9990.00", "10.01", "block", "daily_limit_exceeded_10000.01"),
        ("0", "10000.00", "review", "high_amount_requires_review"),
        ("0", "10000.01", "block", "daily_limit_exceeded_10000.01"),
    ],
)
def test_the_daily_amount_blocks_above_the_maximum(daily, amount, outcome, reason):
    decision = decide(facts(daily_total=Decimal(daily), amount=Decimal(amount)), CONFIG)
    assert (decision.outcome, decision.reason) == (outcome, reason)


@pytest.mark.parametrize(("amount", "outcome"), [("5000.00", "allow"), ("5000.01", "review")])
def test_review_starts_above_the_review_amount(amount, outcome):
    assert decide(facts(amount=Decimal(amount)), CONFIG).outcome == outcome


def test_velocity_is_checked_before_the_daily_amount():
    assert decide(facts(recent_count=5, amount=Decimal("20000")), CONFIG).rule == "velocity"


def test_a_decision_explains_itself():
    decision = decide(facts(daily_total=Decimal("9000"), amount=Decimal("2000")), CONFIG)
    assert decision.observed == {"recent_count": 0, "daily_total": "9000.00"}
    assert decision.limit == "10000.00"


def test_the_ruleset_version_changes_with_the_settings():
    other = replace(CONFIG, max_per_hour=6)
    assert CONFIG.version == replace(CONFIG).version
    assert CONFIG.version != other.version


@pytest.mark.parametrize(
    "field", ["max_cards_per_email_day", "max_emails_per_card_day", "max_declines_per_card_hour", "max_per_ip_hour"]
)
def test_each_new_limit_is_in_the_ruleset_version(field):
    assert replace(CONFIG, **{field: 3}).version != CONFIG.version


def test_the_dot_domains_are_in_the_ruleset_version():
    assert replace(CONFIG, dot_domains=frozenset()).version != CONFIG.version


# Issue #15, item 1: the key the guard counts an email under.


@pytest.mark.parametrize(
    ("email", "key"),
    [
        ("daily+1@x.com", "daily@x.com"),
        ("daily+20@x.com", "daily@x.com"),
        ("Daily+Promo@X.Com", "daily@x.com"),
        ("a+b+c@x.com", "a@x.com"),  # everything from the first plus on is the tag
        ("j.doe@x.com", "j.doe@x.com"),  # other domains keep their dots
        ("j.doe@gmail.com", "jdoe@gmail.com"),
        ("J.D.O.E+shop@GMail.com", "jdoe@gmail.com"),
        ("j.doe@googlemail.com", "jdoe@gmail.com"),  # the same mailbox
        ("jdoe@gmail.com.evil.com", "jdoe@gmail.com.evil.com"),
        ("  Bob@Example.com ", "bob@example.com"),
    ],
)
def test_canonical_email(email, key):
    assert canonical_email(email) == key


@pytest.mark.parametrize(
    ("email", "key"),
    [
        ("", ""),
        ("no-at-sign", "no-at-sign"),
        ("+tag@x.com", "+tag@x.com"),  # stripping would leave no mailbox: kept as it was
        ("...@gmail.com", "...@gmail.com"),
        ("@x.com", "@x.com"),
        ("a@", "a@"),
        ('"a@b"+c@x.com', '"a@b"@x.com'),  # the domain is after the last @
        ("a\x00+b@x.com", "a\x00@x.com"),
    ],
)
def test_canonical_email_never_crashes_on_odd_input(email, key):
    assert canonical_email(email) == key


def test_the_dot_domains_are_a_setting():
    assert canonical_email("j.doe@corp.example", frozenset({"corp.example"})) == "jdoe@corp.example"
    assert canonical_email("j.doe@gmail.com", frozenset()) == "j.doe@gmail.com"


# Issue #15, item 2: the card-testing signals, each off at 0, firing at its limit and not below.

STRICT = replace(
    CONFIG, max_cards_per_email_day=3, max_emails_per_card_day=2, max_declines_per_card_hour=4, max_per_ip_hour=10
)


@pytest.mark.parametrize(
    ("fact", "below", "at", "rule", "reason", "limit"),
    [
        ("cards_per_email", 3, 4, "cards_per_email", "cards_per_email_exceeded_4_per_day", "3"),
        ("emails_per_card", 2, 3, "emails_per_card", "emails_per_card_exceeded_3_per_day", "2"),
        ("card_declines", 3, 4, "card_declines", "card_declines_exceeded_4_per_hour", "4"),
        ("ip_count", 9, 10, "ip_velocity", "ip_velocity_exceeded_10_per_hour", "10"),
    ],
)
def test_each_signal_fires_at_its_limit_and_not_below(fact, below, at, rule, reason, limit):
    assert decide(facts(**{fact: below}), STRICT).reason == "all_checks_passed"
    decision = decide(facts(**{fact: at}), STRICT)
    assert (decision.outcome, decision.rule, decision.reason, decision.limit) == ("block", rule, reason, limit)
    assert decision.observed[fact] == at
    assert decide(facts(**{fact: 1000}), CONFIG).reason == "all_checks_passed"  # off by default


def test_the_signals_come_after_velocity_and_before_the_daily_amount():
    crowded = {"cards_per_email": 9, "emails_per_card": 9, "card_declines": 9, "ip_count": 99}
    assert decide(facts(recent_count=5, **crowded), STRICT).rule == "velocity"
    assert decide(facts(amount=Decimal("20000"), **crowded), STRICT).rule == "cards_per_email"
    assert decide(facts(card_type="prepaid", **crowded), replace(STRICT, block_prepaid=True)).rule == "prepaid"
    order = []
    for fact in ["cards_per_email", "emails_per_card", "card_declines", "ip_count"]:
        order.append(decide(facts(amount=Decimal("20000"), **crowded), STRICT).rule)
        crowded[fact] = 0
    assert order == ["cards_per_email", "emails_per_card", "card_declines", "ip_velocity"]
    assert decide(facts(amount=Decimal("20000"), **crowded), STRICT).rule == "daily_amount"


def test_the_defaults_turn_every_new_signal_off():
    config = RuleConfig.from_settings()
    assert (
        config.max_cards_per_email_day,
        config.max_emails_per_card_day,
        config.max_declines_per_card_hour,
        config.max_per_ip_hour,
    ) == (0, 0, 0, 0)
    assert config.dot_domains == frozenset({"gmail.com", "googlemail.com"})
