"""Task entry points and their schedules."""

import pytest

from echopilot.schedules import REGISTRY
from observability import tasks

pytestmark = pytest.mark.django_db


def test_the_registry_schedules_every_observability_task():
    schedules = {task.func: (task.minutes, task.cron) for task in REGISTRY if task.func.startswith("observability.")}
    assert schedules == {
        "observability.tasks.alerts_evaluate": (5, None),
        "observability.tasks.snapshot": (60, None),
        "observability.tasks.daily_report": (None, "0 9 * * *"),
        "observability.tasks.weekly_audit": (None, "30 0 * * 1"),
        "observability.tasks.self_heal": (360, None),
        "observability.tasks.retention": (None, "15 3 * * *"),
    }


def test_tasks_return_a_one_line_summary(probe_down, monkeypatch):
    monkeypatch.setattr("observability.system.cpu_percent_blocking", lambda: 5.0)
    for task in (tasks.snapshot, tasks.alerts_evaluate, tasks.daily_report, tasks.weekly_audit, tasks.self_heal,
                 tasks.retention):  # fmt: skip
        summary = task()
        assert isinstance(summary, str) and "\n" not in summary, task.__name__
