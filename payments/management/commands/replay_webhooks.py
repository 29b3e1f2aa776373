from collections import Counter

from django.core.management.base import BaseCommand

from echopilot.progress import progress
from payments.models import WebhookEvent
from payments.services import webhook_event_reprocess


class Command(BaseCommand):
    help = (
        "Process stored webhook events again through the same service as the endpoint "
        "(idempotent: what is already applied stays as it is)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--status",
            choices=[WebhookEvent.Status.FAILED, WebhookEvent.Status.IGNORED],
            default=WebhookEvent.Status.FAILED,
            help="Which stored events to replay (default: failed).",
        )
        parser.add_argument("--type", help="Only events of this type, e.g. payment_intent.succeeded.")

    def handle(self, *args, status, type=None, **options):
        events = WebhookEvent.objects.filter(status=status).order_by("received_at", "pk")
        if type:
            events = events.filter(type=type)
        outcomes = Counter()
        pks = list(events.values_list("pk", flat=True))
        # Each event is processed in its own short transaction, so the service keeps answering meanwhile.
        with progress(total=len(pks), label="replay_webhooks", unit="events", stream=self.stderr) as bar:
            for pk in pks:
                outcomes[webhook_event_reprocess(webhook=WebhookEvent.objects.get(pk=pk))] += 1
                bar.update(1)
        summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items())) or "nothing to do"
        style = self.style.WARNING if outcomes["failed"] else self.style.SUCCESS
        self.stdout.write(style(f"replayed {outcomes.total()} {status} event(s): {summary}"))
