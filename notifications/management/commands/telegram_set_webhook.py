from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from echopilot.actors import actor_command
from echopilot.exceptions import Invalid
from notifications.buttons import telegram_webhook_delete, telegram_webhook_set
from notifications.channels import DeliveryError


class Command(BaseCommand):
    help = (
        "Register this service's Telegram webhook (setWebhook: button presses only, with TELEGRAM_WEBHOOK_SECRET), "
        "or remove it with --delete. Prints what it did, never the token or the secret."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--url",
            help="The webhook's public https URL (default: PUBLIC_BASE_URL + /api/telegram/webhook).",
        )
        parser.add_argument(
            "--drop-pending-updates", action="store_true", help="Discard the presses Telegram still holds."
        )
        parser.add_argument("--delete", action="store_true", help="Remove the webhook instead.")

    def handle(self, *args, url, drop_pending_updates, delete, **options):
        by = actor_command("telegram_set_webhook")
        dropped = " Pending updates dropped." if drop_pending_updates else ""
        try:
            if delete:
                telegram_webhook_delete(drop_pending_updates=drop_pending_updates, by=by)
                self.stdout.write(f"Telegram webhook removed.{dropped}")
                return
            url = url or settings.PUBLIC_BASE_URL + reverse("api:telegram-webhook")
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
                raise CommandError(f"--url must be an http(s) URL without credentials; got {url[:100]!r}.")
            if parts.scheme != "https":
                self.stderr.write("Telegram accepts only https webhook URLs (other than a test server's).")
            telegram_webhook_set(url=url, drop_pending_updates=drop_pending_updates, by=by)
        except Invalid as exc:
            raise CommandError(exc.message) from None
        except DeliveryError as exc:
            raise CommandError(f"Telegram refused: {exc}") from None
        self.stdout.write(
            f"Telegram webhook set: {url} (button presses only, with the secret of TELEGRAM_WEBHOOK_SECRET).{dropped}"
        )
