from django.core.management.base import BaseCommand

from echopilot.schedules import schedules_sync


class Command(BaseCommand):
    help = "Make the scheduler's schedules match the registry in echopilot/schedules.py (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Show what would change; change nothing.")

    def handle(self, *args, dry_run=False, **options):
        report = schedules_sync(dry_run=dry_run)
        prefix = "would be " if dry_run else ""
        for label, names in (
            ("created", report.created),
            ("updated", report.updated),
            ("deleted", report.deleted),
            ("unchanged", report.unchanged),
        ):
            if names:
                self.stdout.write(f"{prefix}{label}: {', '.join(names)}")
        self.stdout.write(
            self.style.SUCCESS(
                f"schedules: {len(report.created)} {prefix}created, {len(report.updated)} {prefix}updated, "
                f"{len(report.deleted)} {prefix}deleted, {len(report.unchanged)} unchanged"
            )
        )
