import json

from django.core.management.base import BaseCommand

from observability.snapshots import snapshot_take


class Command(BaseCommand):
    help = "Take an observability snapshot (CPU sampled over one second) and print it as JSON."

    def handle(self, *args, **options):
        self.stdout.write(json.dumps(snapshot_take(blocking_cpu=True).data, indent=2))
