"""Every reason code the rules can produce has a plain-words phrase (issue #14, item 4)."""

import itertools
from decimal import Decimal

import pytest

from fraud.reasons import reason_text
from fraud.rules import Facts, RuleConfig, decide

CONFIG = RuleConfig(
    block_prepaid=True,
    max_per_hour=5,
    max_amount_day=Decimal("10000.00"),
    review_amount=Decimal("5000.00"),
    max_cards_per_email_day=3,
    max_emails_per_card_day=3,
    max_declines_per_card_hour=3,
    max_per_ip_hour=20,
)
SIGNALS = [  # (cards per email, emails per card, card declines, IP count): each fires one signal or none
    (0, 0, 0, 0),
    (1, 1, 2, 19),
    (4, 0, 0, 0),
    (1, 4, 0, 0),
    (1, 1, 3, 0),
    (1, 1, 1, 20),
]


def every_decision():
    """Walk decide() over every combination of the facts its branches look at, so each code shows up."""
    for allow_hit, block_hit, card_type, recent, daily, amount, signals in itertools.product(
        [None, "email", "domain", "card"],
        [None, "email", "domain", "card"],
        ["credit", "debit", "prepaid"],
        [0, 4, 5, 6, 1000],
        [Decimal("0.00"), Decimal("9000.00"), Decimal("1234567.89")],
        [Decimal("1.00"), Decimal("7250.00")],
        SIGNALS,
    ):
        cards, emails, declines, ip_count = signals
        facts = Facts(
            email="grace@example.com",
            amount=amount,
            card_type=card_type,
            recent_count=recent,
            daily_total=daily,
            allow_hit=allow_hit,
            block_hit=block_hit,
            cards_per_email=cards,
            emails_per_card=emails,
            card_declines=declines,
            ip_count=ip_count,
        )
        yield facts, decide(facts, CONFIG)


def test_the_walk_reaches_every_rule():
    assert {decision.rule for _, decision in every_decision()} == {
        "allowlist",
        "blocklist",
        "prepaid",
        "velocity",
        "cards_per_email",
        "emails_per_card",
        "card_declines",
        "ip_velocity",
        "daily_amount",
        "review_amount",
        "default",
    }


def test_every_reason_code_has_a_phrase():
    for facts, decision in every_decision():
        text = reason_text(decision.reason, limit=decision.limit or "", amount=facts.amount, currency="usd")
        assert text != decision.reason, decision.reason
        assert "_" not in text, (decision.reason, text)


@pytest.mark.parametrize(
    ("reason", "limit", "amount", "currency", "text"),
    [
        ("velocity_exceeded_6_per_hour", "5", None, "usd", "6 payments with this card in the past hour (limit 5)"),
        ("velocity_exceeded_1_per_hour", "1", None, "usd", "1 payment with this card in the past hour (limit 1)"),
        (
            "daily_limit_exceeded_10900.00",
            "10000.00",
            Decimal("900.00"),
            "usd",
            "USD 10,900.00 today with this email, over the daily limit of USD 10,000.00",
        ),
        (
            "high_amount_requires_review",
            "5000.00",
            Decimal("7250.00"),
            "usd",
            "USD 7,250.00 is above the review threshold of USD 5,000.00",
        ),
        (
            "high_amount_requires_review",
            "50000.00",
            Decimal("72500.00"),
            "jpy",
            "JPY 72,500 is above the review threshold of JPY 50,000",
        ),
        ("blocklisted_card", "", None, "usd", "This card is on the block list"),
        (
            "cards_per_email_exceeded_4_per_day",
            "3",
            None,
            "usd",
            "4 cards with this email in the past 24 hours (limit 3)",
        ),
        (
            "emails_per_card_exceeded_2_per_day",
            "1",
            None,
            "usd",
            "2 emails with this card in the past 24 hours (limit 1)",
        ),
        (
            "card_declines_exceeded_3_per_hour",
            "3",
            None,
            "usd",
            "3 blocked or declined attempts with this card in the past hour (limit 3)",
        ),
        (
            "card_declines_exceeded_1_per_hour",
            "1",
            None,
            "usd",
            "1 blocked or declined attempt with this card in the past hour (limit 1)",
        ),
        (
            "ip_velocity_exceeded_20_per_hour",
            "20",
            None,
            "usd",
            "20 payments from this IP address in the past hour (limit 20)",
        ),
        ("prepaid_card_blocked", "GUARD_BLOCK_PREPAID=1", None, "usd", "Prepaid card (prepaid cards are blocked)"),
        ("all_checks_passed", "", None, "usd", "All checks passed"),
    ],
)
def test_phrases(reason, limit, amount, currency, text):
    assert reason_text(reason, limit=limit, amount=amount, currency=currency) == text


def test_an_unknown_code_is_shown_as_it_is():
    assert reason_text("some_future_rule_fired", currency="usd") == "some_future_rule_fired"
