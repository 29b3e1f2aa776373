"""Settings for benchmarks: the real ones, plus the benchmark-only baseline routes."""

from echopilot.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
