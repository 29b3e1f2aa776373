"""The documented rules as pure functions: order, reason strings, thresholds (no database)."""

from decimal import Decimal

import pytest

from fraud.rules import Facts, RuleConfig, decide

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
    strict = RuleConfig(**{**CONFIG.__dict__, "block_prepaid": True})
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
    other = RuleConfig(**{**CONFIG.__dict__, "max_per_hour": 6})
    assert CONFIG.version == RuleConfig(**CONFIG.__dict__).version
    assert CONFIG.version != other.version
