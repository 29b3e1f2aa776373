from django.apps import AppConfig


class EchopilotConfig(AppConfig):
    name = "echopilot"
    verbose_name = "Platform"

    def ready(self):
        from django.urls import register_converter

        from echopilot.converters import IdConverter

        register_converter(IdConverter, "id")  # before any URLconf is loaded
