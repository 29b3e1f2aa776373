"""A qcluster killed with SIGKILL in the middle of a task: the broker hands the task out again and it completes.

For emails in particular, a row left in ``sending`` by a killed worker is requeued by the sweep:
tests/notifications/test_email_delivery.py::test_a_row_left_in_sending_by_a_dead_worker_is_requeued_and_delivered_once.
"""

import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.faults.processes import app_env, manage, start_manage, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.own_services]

# The broker hands an unacknowledged task out again after Q_RETRY seconds.
QUEUE = {"Q_TIMEOUT": "5", "Q_RETRY": "10", "Q_WORKERS": "1"}


def start_cluster(env: dict) -> subprocess.Popen:
    return start_manage(env, "qcluster")


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_task_running_when_its_cluster_is_killed_runs_again_and_completes(tmp_path):
    env = app_env(tmp_path, **QUEUE)
    manage(env, "migrate", "--noinput")
    attempts = tmp_path / "attempts.txt"
    task_id = manage(
        env,
        "shell",
        "--no-imports",
        "-c",
        "from django_q.tasks import async_task; "
        f"print(async_task('tests.faults.tasks.record_and_sleep', {str(attempts)!r}, 3))",
    ).strip()
    cluster = start_cluster(env)
    try:
        wait_until(lambda: lines(attempts) == ["start"], timeout=30, message="the task did not start")
        os.killpg(cluster.pid, signal.SIGKILL)
        cluster.wait(timeout=10)
        cluster = start_cluster(env)
        wait_until(lambda: "done" in lines(attempts), timeout=45, message="the task was not handed out again")
        with sqlite3.connect(tmp_path / "app.sqlite3") as db:
            stored = wait_until(
                lambda: db.execute("SELECT success, result FROM django_q_task WHERE id = ?", (task_id,)).fetchone(),
                timeout=10,
                message="no result stored",
            )
            assert stored[0] == 1
            # The cluster stores the result, then acknowledges (deletes) the queued row: wait for both.
            wait_until(
                lambda: db.execute("SELECT count(*) FROM django_q_ormq").fetchone() == (0,),
                timeout=10,
                message="the task stayed in the queue after it completed",
            )
    finally:
        os.killpg(cluster.pid, signal.SIGKILL)
        cluster.wait(timeout=10)
    assert lines(attempts) == ["start", "start", "done"]
