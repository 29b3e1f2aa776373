import json

from django.core.management.base import BaseCommand, CommandError

from echopilot.actors import actor_command
from echopilot.errors import validation_error_body
from notifications.serializers import EmailSendResultSerializer, EmailSendSerializer
from notifications.services import email_send


class Command(BaseCommand):
    help = "Store an email and queue it for delivery; prints the same JSON as POST /api/email/send."

    def add_arguments(self, parser):
        parser.add_argument("--to", action="append", required=True, help="Recipient (repeat for several).")
        parser.add_argument("--subject", required=True)
        parser.add_argument("--body", required=True, help="Plain-text body.")
        parser.add_argument("--html", default="", help="Optional HTML body.")

    def handle(self, *args, to, subject, body, html, **options):
        data = EmailSendSerializer(data={"to": to, "subject": subject, "body": body, "html": html})
        if not data.is_valid():
            raise CommandError(json.dumps(validation_error_body(data.errors)))
        email, _ = email_send(**data.validated_data, created_by=actor_command("send_email"))
        self.stdout.write(json.dumps(EmailSendResultSerializer(email).data))
