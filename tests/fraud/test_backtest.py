"""manage.py fraud_backtest: replaying stored checks under proposed settings."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from fraud.backtest import fraud_backtest
from fraud.management.commands.fraud_backtest import parse_since
from fraud.models import FraudCheck, ListEntry
from fraud.rules import RuleConfig
from fraud.services import fraud_check_create
from tests.factories import make_payment

pytestmark = pytest.mark.django_db


@pytest.fixture
def history():
    """Four checks of one card ten minutes apart, and a large one of another customer."""
    start = timezone.now() - timedelta(hours=2)
    for n in range(4):
        fraud_check_create(
            email="a@example.com",
            amount=Decimal("100.00"),
            card_fingerprint="c1",
            now=start + timedelta(minutes=10 * n),
        )
    fraud_check_create(email="b@example.com", amount=Decimal("4000.00"), now=start + timedelta(minutes=5))
    return start


def test_unchanged_settings_change_nothing(history):
    report = fraud_backtest(since=history - timedelta(minutes=1), config=RuleConfig.from_settings())
    assert report.total == 5 and report.changed == 0
    assert report.table[("allow", "allow")] == 5


def test_a_stricter_velocity_limit_blocks_with_point_in_time_counts(history):
    report = fraud_backtest(since=history - timedelta(minutes=1), config=RuleConfig.from_settings(max_per_hour=2))
    assert report.table[("allow", "block")] == 2  # the third and fourth check of card c1
    assert {new for _, _, new in report.examples} == {"velocity_exceeded_2_per_hour", "velocity_exceeded_3_per_hour"}


def test_a_lower_review_amount_sends_large_payments_to_review(history):
    report = fraud_backtest(
        since=history - timedelta(minutes=1), config=RuleConfig.from_settings(review_amount=Decimal("1000"))
    )
    assert report.table[("allow", "review")] == 1


def test_replayed_blocks_no_longer_count_towards_the_daily_sum():
    start = timezone.now() - timedelta(hours=3)
    for n, amount in enumerate(["600.00", "600.00", "300.00"]):
        fraud_check_create(
            email="c@example.com", amount=Decimal(amount), card_fingerprint=f"k{n}", now=start + timedelta(minutes=n)
        )
    report = fraud_backtest(
        since=start - timedelta(minutes=1), config=RuleConfig.from_settings(max_amount_day=Decimal("1000"))
    )
    # 600 allowed, 600 blocked (1200 > 1000), then 300 fits because the blocked 600 does not count.
    assert report.table[("allow", "allow")] == 2 and report.table[("allow", "block")] == 1


def test_list_entries_apply_only_while_they_existed(history):
    entry = ListEntry.objects.create(action="block", kind="card", value="c1", reason="test")
    ListEntry.objects.filter(pk=entry.pk).update(created_at=history + timedelta(minutes=15))
    report = fraud_backtest(since=history - timedelta(minutes=1), config=RuleConfig.from_settings())
    assert report.table[("allow", "block")] == 2  # the checks at +20 and +30 minutes


def test_the_command_prints_the_before_after_table(history):
    out = StringIO()
    call_command("fraud_backtest", "--since", "1d", "--max-per-hour", "2", stdout=out, stderr=StringIO())
    text = out.getvalue()
    assert "Replayed 5 checks" in text and "2 decisions would change" in text
    assert any(line.split() == ["allow", "3", "0", "2"] for line in text.splitlines())


def test_since_takes_a_date_or_a_duration():
    assert parse_since("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_since("2026-11-01T12:00:00+01:00") == datetime(2026, 11, 1, 11, tzinfo=UTC)
    assert timezone.now() - parse_since("12h") - timedelta(hours=12) < timedelta(seconds=5)


SIGNALS_ON = {
    "max_cards_per_email_day": 2,
    "max_emails_per_card_day": 2,
    "max_declines_per_card_hour": 3,
    "max_per_ip_hour": 4,
}


def card_testing_history(start, config=None):
    """An attacker's hour: plus-variants, several cards, one IP; and a customer's two payments."""
    attempts = [
        ("mallory+1@gmail.com", "s1"),
        ("m.allory+2@gmail.com", "s2"),
        ("mallory@googlemail.com", "s3"),  # a third card of one mailbox
        ("eve@x.com", "s1"),
        ("trent@x.com", "s1"),  # a third email of card s1
        ("trent+2@x.com", "s1"),
        ("oscar@x.com", "s1"),
        ("peggy@x.com", "s4"),
    ]
    for n, (email, card) in enumerate(attempts):
        fraud_check_create(
            email=email,
            amount=Decimal("1.00"),
            card_fingerprint=card,
            ip="198.51.100.7",
            config=config,
            now=start + timedelta(minutes=n),
        )
    for n in range(2):
        fraud_check_create(
            email="carol@example.com", amount=Decimal("20.00"), card_fingerprint="c", now=start + timedelta(minutes=n)
        )


def test_the_backtest_replays_every_signal_as_the_guard_decided_it(settings):
    settings.GUARD_MAX_PER_HOUR = 1000
    start = timezone.now() - timedelta(hours=2)
    strict = RuleConfig.from_settings(**SIGNALS_ON)
    card_testing_history(start, config=strict)
    make_payment(status="failed", card_fingerprint="s4", updated_at=start + timedelta(minutes=3))
    live = list(FraudCheck.objects.order_by("created_at", "id").values_list("rule", flat=True))
    assert {"cards_per_email", "emails_per_card", "ip_velocity"} <= set(live), live
    report = fraud_backtest(since=start - timedelta(minutes=1), config=strict)
    assert report.total == 10 and report.changed == 0, report.examples
    # Recorded with every signal off, replayed with them on: the attacker's later attempts turn to blocks.
    FraudCheck.objects.all().delete()
    card_testing_history(start)
    report = fraud_backtest(since=start - timedelta(minutes=1), config=strict)
    assert report.table[("allow", "block")] == live.count("cards_per_email") + live.count("emails_per_card") + sum(
        rule in ("card_declines", "ip_velocity") for rule in live
    )
    assert report.table[("allow", "allow")] == 10 - report.changed


def test_the_backtest_counts_a_cards_declined_payments():
    start = timezone.now() - timedelta(hours=2)
    for n in range(2):
        make_payment(status="failed", card_fingerprint="d1", updated_at=start - timedelta(minutes=30 - n))
    make_payment(status="failed", card_fingerprint="d1", updated_at=start - timedelta(minutes=61))
    fraud_check_create(email="a@x.com", amount=Decimal("1.00"), card_fingerprint="d1", now=start)
    fraud_check_create(email="a@x.com", amount=Decimal("1.00"), card_fingerprint="d2", now=start)
    report = fraud_backtest(
        since=start - timedelta(minutes=1), config=RuleConfig.from_settings(max_declines_per_card_hour=2)
    )
    assert report.examples and report.examples[0][2] == "card_declines_exceeded_2_per_hour"
    assert report.changed == 1


def test_the_command_takes_the_signals(settings):
    settings.GUARD_MAX_PER_HOUR = 1000
    card_testing_history(timezone.now() - timedelta(hours=2))
    out = StringIO()
    call_command("fraud_backtest", "--since", "1d", "--max-per-ip-hour", "4", stdout=out, stderr=StringIO())
    assert "per IP 4" in out.getvalue() and "4 decisions would change" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("fraud_backtest", "--max-per-ip-hour", "-1", stdout=StringIO(), stderr=StringIO())
