from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ObservabilityConfig(AppConfig):
    name = "observability"
    verbose_name = "Observability"

    def ready(self):
        from observability.roles import roles_sync_after_migrate
        from observability.system import cpu_sampler_prime

        # At process start, so the first non-blocking CPU reading of any process covers a real interval.
        cpu_sampler_prime()

        # The two ready groups of the admin (observability/roles.py), after every migrate.
        post_migrate.connect(roles_sync_after_migrate, sender=self, dispatch_uid="observability.roles_sync")
