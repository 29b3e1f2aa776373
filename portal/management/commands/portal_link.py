import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from echopilot.actors import actor_command
from echopilot.errors import validation_error_body
from portal.links import DEFAULT_EXPIRY_HOURS
from portal.serializers import LinkInput
from portal.services import portal_link_create


class Command(BaseCommand):
    help = "Issue a customer portal link and print its URL (the only place it is shown)."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True, help="The customer's email address.")
        parser.add_argument(
            "--hours",
            type=int,
            default=DEFAULT_EXPIRY_HOURS,
            help=f"How long the link works (default {DEFAULT_EXPIRY_HOURS}).",
        )

    def handle(self, *args, email, hours, **options):
        data = LinkInput(data={"email": email, "expiry_hours": hours})
        if not data.is_valid():
            raise CommandError(json.dumps(validation_error_body(data.errors)))
        _, path = portal_link_create(**data.validated_data, created_by=actor_command("portal_link"))
        self.stdout.write(settings.PUBLIC_BASE_URL + path)
