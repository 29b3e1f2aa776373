from django.apps import AppConfig


class EchopilotConfig(AppConfig):
    name = "echopilot"
    verbose_name = "Platform"

    def ready(self):
        from django.contrib.auth.signals import user_login_failed
        from django.urls import register_converter
        from django_q.signals import post_execute

        from echopilot.admin import guard_admin_actions
        from echopilot.auth import audit_login_failed
        from echopilot.converters import IdConverter
        from echopilot.taskqueue import record_progress

        register_converter(IdConverter, "id")  # before any URLconf is loaded
        guard_admin_actions()  # the admin's autodiscovery (django.contrib.admin's ready) has registered every admin
        # After django-axes' own receiver (axes comes before us in INSTALLED_APPS), so the line knows of a lockout.
        user_login_failed.connect(audit_login_failed, dispatch_uid="echopilot.audit_login_failed")
        # A qcluster started by `serve` shows its watchdog every finished task.
        post_execute.connect(record_progress, dispatch_uid="echopilot.taskqueue.record_progress")
