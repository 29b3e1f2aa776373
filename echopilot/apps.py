from django.apps import AppConfig


class EchopilotConfig(AppConfig):
    name = "echopilot"
    verbose_name = "Platform"
