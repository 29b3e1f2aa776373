import shlex
from pathlib import Path

import stripe
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Sign a Stripe event file with STRIPE_WEBHOOK_SECRET the way Stripe does, "
        "and print a curl command that delivers it to the webhook endpoint."
    )

    def add_arguments(self, parser):
        parser.add_argument("--file", required=True, type=Path, help="The event JSON; it is sent byte for byte.")
        parser.add_argument("--url", default=None, help="Default: PUBLIC_BASE_URL + /api/webhooks/stripe.")

    def handle(self, *args, file, url=None, **options):
        if not settings.STRIPE_WEBHOOK_SECRET:
            raise CommandError("STRIPE_WEBHOOK_SECRET is not set; the endpoint refuses every delivery without it.")
        try:
            payload = file.read_bytes().decode()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {file}: {exc}") from None
        header = stripe.WebhookSignature.generate_signature_header(payload, settings.STRIPE_WEBHOOK_SECRET)
        url = url or f"{settings.PUBLIC_BASE_URL}/api/webhooks/stripe"
        self.stdout.write(
            shlex.join(
                [
                    "curl",
                    "-sS",
                    "-X",
                    "POST",
                    url,
                    "-H",
                    "Content-Type: application/json",
                    "-H",
                    f"Stripe-Signature: {header}",
                    "--data-binary",
                    f"@{file}",
                ]
            )
        )
