import json
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError

from echopilot.errors import validation_error_body
from fraud.rules import Facts, RuleConfig, decide
from fraud.serializers import CheckInput
from fraud.services import fraud_check_create

# The seed's quick-start examples: (email, amount, card type, caller's recent count, caller's daily total).
DEMO = [
    ("alice@example.com", "49.99", "credit", 0, "0"),
    ("bob@example.com", "7500.00", "debit", 0, "0"),
    ("carol@example.com", "120.00", "credit", 10, "0"),
    ("dave@example.com", "3000.00", "credit", 0, "8000.00"),
]


class Command(BaseCommand):
    help = "Ask the fraud guard for a decision (recorded like an API check), or run the demo cases (--demo, nothing recorded)."

    def add_arguments(self, parser):
        parser.add_argument("--email")
        parser.add_argument("--amount")
        parser.add_argument("--card-type", default="unknown")
        parser.add_argument("--currency", default="usd")
        parser.add_argument("--card-fingerprint", default="")
        parser.add_argument("--demo", action="store_true", help="Evaluate the seed's four example cases.")

    def handle(self, *args, **options):
        if options["demo"]:
            config = RuleConfig.from_settings()
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
        check = fraud_check_create(**data.validated_data, created_by="cli")
        self.stdout.write(f"{check.email}: {check.decision} - {check.reason} ({check.check_id})")
