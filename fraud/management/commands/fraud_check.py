import json
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError

from echopilot.actors import actor_command
from echopilot.errors import validation_error_body
from fraud.rules import Facts, decide
from fraud.rulesets import current_config
from fraud.serializers import CheckInput
from fraud.services import fraud_check_create

# (email, amount, card type, caller's recent count, caller's daily total). The original product's own three
# examples come first and, under the default rules, print its lines exactly; suspicious@test.com is the caller
# reporting 10 checks of that card in the past hour (the API's `recent_count`), so no demo data is needed.
# Then the daily limit, which the original's examples do not reach.
DEMO = [
    ("test@example.com", "49.99", "credit", 0, "0"),  # allow - all_checks_passed
    ("suspicious@test.com", "100.00", "credit", 10, "0"),  # block - velocity_exceeded_10_per_hour
    ("normal@test.com", "6000.00", "debit", 0, "0"),  # review - high_amount_requires_review
    ("dave@example.com", "3000.00", "credit", 0, "8000.00"),  # block - daily_limit_exceeded_11000.00
]


class Command(BaseCommand):
    help = (
        "Ask the fraud guard for a decision (recorded like an API check), or run the demo cases "
        "(--demo: the original's examples under the rules in force, nothing recorded)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--email")
        parser.add_argument("--amount")
        parser.add_argument("--card-type", default="unknown")
        parser.add_argument("--currency", default="usd")
        parser.add_argument("--card-fingerprint", default="")
        parser.add_argument(
            "--demo",
            action="store_true",
            help="Evaluate the original's example cases (and the daily limit) without recording anything.",
        )

    def handle(self, *args, **options):
        if options["demo"]:
            config = current_config()  # the rules in force: a stored active version, else the GUARD_* settings
            for email, amount, card_type, recent, daily in DEMO:
                decision = decide(
                    Facts(
                        email=email,
                        amount=Decimal(amount),
                        card_type=card_type,
                        recent_count=recent,
                        daily_total=Decimal(daily),
                    ),
                    config,
                )
                self.stdout.write(f"{email}: {decision.outcome} - {decision.reason}")
            return
        data = CheckInput(
            data={
                "email": options["email"],
                "amount": options["amount"],
                "card_type": options["card_type"],
                "currency": options["currency"],
                "card_fingerprint": options["card_fingerprint"],
            }
        )
        if not data.is_valid():
            raise CommandError(json.dumps(validation_error_body(data.errors)))
        check = fraud_check_create(**data.validated_data, created_by=actor_command("fraud_check"))
        self.stdout.write(f"{check.email}: {check.decision} - {check.reason} ({check.check_id})")
