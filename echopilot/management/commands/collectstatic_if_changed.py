from django.core.management.base import BaseCommand

from echopilot.static_collect import collectstatic_if_changed


class Command(BaseCommand):
    help = (
        "Run collectstatic only when the static sources (names, places, sizes, modification times), "
        "the static settings or the Django/WhiteNoise versions changed since the last collect."
    )

    def handle(self, *args, verbosity=1, **options):
        if verbosity:
            self.stdout.write("static files: checking whether their sources changed since the last collect")
        if collectstatic_if_changed(verbosity=verbosity):
            self.stdout.write(self.style.SUCCESS("static files: collected"))
        else:
            self.stdout.write(self.style.SUCCESS("static files: unchanged since the last collect, nothing to do"))
