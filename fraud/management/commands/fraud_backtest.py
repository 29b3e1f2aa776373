import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from echopilot.progress import progress
from fraud.backtest import fraud_backtest
from fraud.models import FraudCheck
from fraud.rules import RuleConfig

OUTCOMES = ["allow", "review", "block"]


def parse_since(value: str) -> datetime:
    match = re.fullmatch(r"(\d+)([dh])", value)
    if match:
        amount, unit = int(match[1]), match[2]
        return timezone.now() - (timedelta(days=amount) if unit == "d" else timedelta(hours=amount))
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError("--since takes 30d, 12h or an ISO date such as 2026-11-01") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def decimal_arg(value: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise CommandError(f"not a number: {value}") from None
    if not number.is_finite() or number < 0:
        raise CommandError(f"not a positive number: {value}")
    return number


def limit_arg(value: str) -> int:
    """A signal's limit: a whole number, 0 to turn the signal off."""
    if not re.fullmatch(r"\d{1,9}", value):
        raise CommandError(f"not a whole number from 0 on: {value}")
    return int(value)


SIGNALS = {  # option -> RuleConfig field; each 0 (off) by default
    "max_cards_per_email_day": "distinct cards per email per 24 h",
    "max_emails_per_card_day": "distinct emails per card per 24 h",
    "max_declines_per_card_hour": "blocked or declined attempts per card per hour",
    "max_per_ip_hour": "checks per IP per hour",
}


class Command(BaseCommand):
    help = "Replay stored checks under proposed guard settings and show which decisions would change."

    def add_arguments(self, parser):
        parser.add_argument("--since", default="30d", help="30d, 12h or an ISO date (default 30d)")
        parser.add_argument("--max-per-hour", type=int)
        parser.add_argument("--max-amount-day", type=decimal_arg)
        parser.add_argument("--review-amount", type=decimal_arg)
        parser.add_argument("--block-prepaid", type=int, choices=[0, 1])
        for name, meaning in SIGNALS.items():
            parser.add_argument(f"--{name.replace('_', '-')}", type=limit_arg, help=f"{meaning}; 0: off")
        parser.add_argument("--examples", type=int, default=10)

    def handle(self, *args, **options):
        since = parse_since(options["since"])
        block_prepaid = options["block_prepaid"]
        config = RuleConfig.from_settings(
            max_per_hour=options["max_per_hour"],
            max_amount_day=options["max_amount_day"],
            review_amount=options["review_amount"],
            block_prepaid=None if block_prepaid is None else bool(block_prepaid),
            **{name: options[name] for name in SIGNALS},
        )
        total = FraudCheck.objects.filter(created_at__gte=since).count()
        started = timezone.now()
        with progress(total=total, label="fraud_backtest", unit="checks", stream=self.stderr) as bar:
            report = fraud_backtest(since=since, config=config, progress=bar, max_examples=options["examples"])
        elapsed = (timezone.now() - started).total_seconds()
        self.stdout.write(
            f"Replayed {report.total} checks since {since:%Y-%m-%d %H:%M} UTC in {elapsed:.1f} s "
            f"under ruleset {config.version} (max/hour {config.max_per_hour}, max/day {config.max_amount_day}, "
            f"review above {config.review_amount}, block prepaid {int(config.block_prepaid)}; "
            f"cards/email {config.max_cards_per_email_day}, emails/card {config.max_emails_per_card_day}, "
            f"declines/card {config.max_declines_per_card_hour}, per IP {config.max_per_ip_hour}; 0 is off)."
        )
        self.stdout.write(f"{report.changed} decisions would change.\n")
        self.stdout.write("before \\ after " + "".join(f"{name:>10}" for name in OUTCOMES))
        for before in OUTCOMES:
            self.stdout.write(f"{before:<15}" + "".join(f"{report.table[(before, after)]:>10}" for after in OUTCOMES))
        if report.examples:
            self.stdout.write("\nExamples:")
            for check_id, old, new in report.examples:
                self.stdout.write(f"  {check_id}: {old} -> {new}")
