from django.apps import AppConfig


class EchopilotConfig(AppConfig):
    name = "echopilot"
    verbose_name = "Platform"

    def ready(self):
        from django.urls import register_converter
        from django_q.signals import post_execute

        from echopilot.converters import IdConverter
        from echopilot.taskqueue import record_progress

        register_converter(IdConverter, "id")  # before any URLconf is loaded
        # A qcluster started by `serve` shows its watchdog every finished task.
        post_execute.connect(record_progress, dispatch_uid="echopilot.taskqueue.record_progress")
