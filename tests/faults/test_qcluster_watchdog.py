"""The watchdog of ``manage.py serve``: a qcluster that stalls or dies is restarted, and nothing outlives serve.

Real processes, like the other fault tests: ``serve`` with gunicorn and a qcluster on a
SQLite database of the test's own, a real SMTP server and a Telegram stand-in.

django-q2 wedges when a worker dies while it waits for the next task
(django-q2/django-q2#23): the sentinel replaces it, but the new workers wait forever
for the task queue's lock the dead one held. SIGKILL of both workers, as the kernel's
OOM killer would do, produces exactly that.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.constants import BOT_TOKEN, CHAT_ID
from tests.faults.processes import (
    BASE_DIR,
    Serve,
    alive,
    app_env,
    cluster_workers,
    free_port,
    manage,
    request,
    start_manage,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.own_services]

WATCHDOG = {
    "Q_WORKERS": "2",
    "Q_TIMEOUT": "5",
    "Q_RETRY": "10",
    "TASKS_STALL_SECONDS": "15",
    "TASKS_START_GRACE_SECONDS": "5",
    "SERVE_STOP_SECONDS": "5",
    "WEB_CONCURRENCY": "1",
    "NODE_NAME": "shop",
}
# From the kill of the workers until a task queued afterwards has run: TASKS_STALL_SECONDS (15) without
# progress, a watchdog pass (3), the first restart's backoff (1), the new qcluster's start (about 5) and
# Q_RETRY (10) when the stalled cluster had taken the task; with room for a busy two-core machine.
STALL_BOUND = 60
# From SIGTERM until every process is gone: SERVE_STOP_SECONDS (5), then SIGKILL and its wait, and room.
STOP_BOUND = 20


def serve_env(tmp_path: Path, **extra: str) -> dict:
    return app_env(tmp_path, **{**WATCHDOG, "PORT": str(free_port()), **extra})


def events(tmp_path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(tmp_path / "app.sqlite3") as db:
        return db.execute("SELECT node, event FROM echopilot_taskqueueevent ORDER BY id").fetchall()


def stop(serve: Serve) -> int | None:
    serve.signal(signal.SIGTERM)
    try:
        return serve.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        return None
    finally:
        serve.kill_everything()


def test_killed_workers_stall_the_cluster_until_the_watchdog_alerts_and_restarts_it(
    tmp_path, smtp_server, telegram_api, settings
):
    env = serve_env(
        tmp_path,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_server.port),
        SMTP_SECURITY="none",
        ALERT_EMAIL_TO="ops@example.com",
        TELEGRAM_API_URL=settings.TELEGRAM_API_URL,
        TELEGRAM_BOT_TOKEN=BOT_TOKEN,
        TELEGRAM_CHAT_ID=CHAT_ID,
    )
    manage(env, "migrate", "--noinput")
    manage(env, "sync_schedules")
    serve = Serve(env, tmp_path / "serve.log")
    try:
        serve.wait_up()
        [qcluster] = serve.children("qcluster")
        wait_until(lambda: len(qcluster.children(recursive=True)) == 5, timeout=30, message="qcluster not up")
        # Before the scheduler's first pass (30 s in), both workers wait for work: the one killed while holding
        # the task queue's lock wedges the cluster. A worker killed in the middle of a task would not.
        with sqlite3.connect(tmp_path / "app.sqlite3") as db:
            assert db.execute("SELECT count(*) FROM django_q_task").fetchone() == (0,), "too late to wedge it"
        for worker in cluster_workers(qcluster, 2):
            worker.kill()
        status, body, _ = request(
            serve.port, "POST", "/api/email/send", {"to": "a@example.com", "subject": "late", "body": "."}
        )
        assert status == 202, body

        # The email is sent within the bound, and /readyz said the queue was stalled before that.
        readiness = []

        def delivered() -> bool:
            readiness.append(request(serve.port, "GET", "/readyz")[:2])  # the web node answers throughout
            return any(message["message"]["Subject"] == "late" for message in smtp_server.messages)

        wait_until(delivered, timeout=STALL_BOUND, interval=0.2, message=f"not sent:\n{serve.output()[-3000:]}")
        delivered_at = time.monotonic()
        stalled = [body["failed"]["tasks"] for status, body in readiness if status == 503]
        assert stalled, readiness
        assert stalled[0].startswith("stalled since ") and "qcluster stalled (watchdog)" in stalled[0]
        assert {status for status, _ in readiness} <= {200, 503}

        # Events: the stall, the restart, and the recovery once the new cluster finished a task.
        wait_until(lambda: ("shop-q1", "recovered") in events(tmp_path), timeout=30, message="no recovery recorded")
        assert events(tmp_path) == [("shop-q1", "stalled"), ("shop-q1", "restarted"), ("shop-q1", "recovered")]
        lines = (tmp_path / "logs" / "task_queue.ndjson").read_text()
        assert [line.split('"event":"')[1].split('"')[0] for line in lines.splitlines()] == [
            "stalled",
            "restarted",
            "recovered",
        ]
        output = serve.output()
        assert "q1 (shop-q1) stalled: holds tasks and finished none for" in output
        assert "restarted q1 (pid" in output and "q1 (shop-q1) recovered" in output

        # The alert reached Telegram and the mailbox while the queue was stalled: before the
        # restarted cluster could send the email queued after the kill.
        texts = [(request["at"], request["body"]["text"]) for request in telegram_api.requests]
        alerts = [at for at, text in texts if "task queue stalled on shop-q1" in text]
        assert len(alerts) == 1 and alerts[0] < delivered_at, texts
        subjects = [message["message"]["Subject"] for message in smtp_server.messages]
        assert subjects.index("EchoPilot: task queue stalled on shop-q1") < subjects.index("late")
        wait_until(
            lambda: any("recovered" in request["body"]["text"] for request in telegram_api.requests),
            timeout=30,
            message="no recovery message",
        )
        assert subjects.count("late") == 1  # redelivered tasks found it sent: once
    finally:
        assert stop(serve) == 0, serve.output()[-3000:]


def test_a_killed_qcluster_top_process_leaves_no_orphan_and_no_ghost_for_the_next_start(tmp_path):
    env = serve_env(tmp_path)
    manage(env, "migrate", "--noinput")
    serve = Serve(env, tmp_path / "serve.log")
    later = []
    try:
        serve.wait_up()
        [qcluster] = serve.children("qcluster")
        wait_until(lambda: len(qcluster.children(recursive=True)) == 5, timeout=30, message="qcluster not up")
        old_cluster = [qcluster, *qcluster.children(recursive=True)]
        qcluster.kill()  # its sentinel and workers would run on as a ghost cluster
        wait_until(lambda: not alive(old_cluster), timeout=STOP_BOUND, message=f"orphans: {alive(old_cluster)}")
        wait_until(
            lambda: [child.pid for child in serve.children("qcluster")] not in ([], [qcluster.pid]),
            timeout=30,
            message="the qcluster was not started again",
        )
        assert request(serve.port, "GET", "/livez")[0] == 200  # the web node served on
        assert events(tmp_path) == [("shop-q1", "exited"), ("shop-q1", "restarted")]
        assert "q1 (shop-q1) exited with code -9" in serve.output()

        # serve itself is killed (it cannot stop anything then): its children live on, and the next
        # start refuses, naming them.
        leaders = serve.children("gunicorn") + serve.children("qcluster")
        survivors = serve.tree()[1:]
        serve.process.kill()
        serve.process.wait()
        refused = subprocess.run(
            [sys.executable, "manage.py", "serve"], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60
        )
        assert refused.returncode != 0
        assert "Processes of an earlier run are still alive" in refused.stderr
        for leader in leaders:
            assert f"pid {leader.pid} (" in refused.stderr
        for leader in leaders:
            os.killpg(leader.pid, signal.SIGKILL)
        wait_until(lambda: not alive(survivors), timeout=STOP_BOUND, message=f"still alive: {alive(survivors)}")

        # A qcluster started by hand is refused too (SQLite allows one), found by its own reports.
        by_hand = start_manage(env, "qcluster")
        try:
            wait_until(lambda: len(psutil.Process(by_hand.pid).children(recursive=True)) == 5, timeout=30, message="")

            def refuses() -> bool:
                attempt = Serve(env, tmp_path / "refused.log")
                try:
                    code = attempt.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    # It started: the qcluster had not reported itself yet when serve looked (it reports
                    # within seconds of its start, later on a loaded machine). Stop it and look again.
                    stop(attempt)
                    return False
                return code != 0 and f"pid {by_hand.pid} (" in attempt.output()

            wait_until(refuses, timeout=120, message="a qcluster started by hand was not noticed")
        finally:
            os.killpg(by_hand.pid, signal.SIGKILL)
            by_hand.wait()

        # Nothing of the earlier runs is left: the next start comes up and stops cleanly.
        later.append(Serve(env, tmp_path / "serve-2.log"))
        wait_until(lambda: later[0].process.poll() is not None or later[0].children("qcluster"), timeout=60, message="")
        later[0].wait_up()
        tree = later[0].tree()
        assert stop(later[0]) == 0, later[0].output()[-3000:]
        assert not alive(tree)
    finally:
        for each in [serve, *later]:
            each.kill_everything()


def test_sigterm_to_serve_while_its_qcluster_is_stalled_ends_every_process_within_the_bound(tmp_path):
    env = serve_env(tmp_path, TASKS_START_GRACE_SECONDS="600")  # the watchdog keeps out of it
    manage(env, "migrate", "--noinput")
    serve = Serve(env, tmp_path / "serve.log")
    try:
        serve.wait_up()
        [qcluster] = serve.children("qcluster")
        wait_until(lambda: len(qcluster.children(recursive=True)) == 5, timeout=30, message="qcluster not up")
        for worker in cluster_workers(qcluster, 2):
            worker.kill()
        # The sentinel replaces them with workers that wait forever: a graceful stop cannot finish.
        wait_until(lambda: "reincarnated worker" in serve.output(), timeout=30, message="workers not replaced")
        everything = serve.tree()
        serve.signal(signal.SIGTERM)
        try:
            code = serve.process.wait(timeout=STOP_BOUND)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve still running {STOP_BOUND} s after SIGTERM:\n{serve.output()[-3000:]}")
        assert code == 0
        assert not alive(everything), alive(everything)
        assert "q1 did not stop in 5 s; killing" in serve.output()
        assert not (tmp_path / "run" / "serve.json").exists()
    finally:
        serve.kill_everything()
