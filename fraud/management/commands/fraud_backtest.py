import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from echopilot.progress import progress
from fraud.backtest import BacktestReport, fraud_backtest, report_dict
from fraud.labels import FRAUD, LEGITIMATE
from fraud.models import FraudCheck
from fraud.rulesets import current_config

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


def percent(value: Fraction | None) -> str:
    """A ratio as "66.7%", "-" when undefined."""
    if value is None:
        return "-"
    return f"{(Decimal(value.numerator) * 100 / value.denominator).quantize(Decimal('0.1'))}%"


def judged_lines(report: BacktestReport, legit_days: int) -> list[str]:
    """The labelled figures of the current and the proposed settings, as a table."""
    now, new = report.current, report.proposed
    labelled = report.labels
    lines = [
        f"Labels: {labelled[FRAUD]} fraud, {labelled[LEGITIMATE]} legitimate, {labelled[None]} unlabelled "
        f"(fraud: disputed, refunded as fraudulent or rejected as fraud; legitimate: approved, or succeeded "
        f"and not disputed for {legit_days} days).",
        f"{'':<32}{'current':>18}{'proposed':>18}",
    ]

    def row(name: str, part, ratio) -> str:
        return f"{name:<32}" + "".join(f"{f'{part(m)} ({percent(ratio(m))})':>18}" for m in (now, new))

    lines.append(row(f"fraud caught (of {now.fraud})", lambda m: m.fraud_caught, lambda m: m.fraud_caught_rate))
    lines.append(row(f"good blocked (of {now.legitimate})", lambda m: m.good_blocked, lambda m: m.good_blocked_rate))
    lines.append(row(f"review load (of {now.checks})", lambda m: m.reviews, lambda m: m.review_load))
    rules = sorted(set(now.rules) | set(new.rules))
    if rules:
        lines.append(f"\n{'rule':<16}{'current: precision':>22}{'recall':>10}{'proposed: precision':>24}{'recall':>10}")
        for rule in rules:
            lines.append(
                f"{rule:<16}{percent(now.precision(rule)):>22}{percent(now.recall(rule)):>10}"
                f"{percent(new.precision(rule)):>24}{percent(new.recall(rule)):>10}"
            )
    return lines


class Command(BaseCommand):
    help = (
        "Replay stored checks under proposed guard settings: which decisions would change, and how the current and "
        "the proposed settings fare on the checks labelled fraud or legitimate."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", default="30d", help="30d, 12h or an ISO date (default 30d)")
        parser.add_argument("--max-per-hour", type=int)
        parser.add_argument("--max-amount-day", type=decimal_arg)
        parser.add_argument("--review-amount", type=decimal_arg)
        parser.add_argument("--block-prepaid", type=int, choices=[0, 1])
        for name, meaning in SIGNALS.items():
            parser.add_argument(f"--{name.replace('_', '-')}", type=limit_arg, help=f"{meaning}; 0: off")
        parser.add_argument("--examples", type=int, default=10)
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, **options):
        since = parse_since(options["since"])
        block_prepaid = options["block_prepaid"]
        current = current_config()
        changes = {
            "max_per_hour": options["max_per_hour"],
            "max_amount_day": options["max_amount_day"],
            "review_amount": options["review_amount"],
            "block_prepaid": None if block_prepaid is None else bool(block_prepaid),
            **{name: options[name] for name in SIGNALS},
        }
        # The proposal is the rules in force with the options' changes, unnamed (its version is their digest).
        config = replace(current, label="", **{name: value for name, value in changes.items() if value is not None})
        total = FraudCheck.objects.filter(created_at__gte=since).count()
        started = timezone.now()
        with progress(total=total, label="fraud_backtest", unit="checks", stream=self.stderr) as bar:
            report = fraud_backtest(
                since=since, config=config, current=current, progress=bar, max_examples=options["examples"]
            )
        if options["json"]:
            self.stdout.write(json.dumps(report_dict(report, since=since, config=config, current=current), indent=2))
            return
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
        self.stdout.write("")
        self.stdout.write(
            f"Judged by labels: current = the rules in force (ruleset {current.version}), proposed above."
        )
        for line in judged_lines(report, settings.GUARD_LABEL_LEGIT_DAYS):
            self.stdout.write(line)
