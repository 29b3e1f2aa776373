"""`manage.py serve` (what `make run` starts): gunicorn and one qcluster, stopped together."""

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from echopilot.supervisor import (
    Child,
    Supervisor,
    earlier_run_alive,
    group_members,
    stall_reason,
    stop_children,
)
from echopilot.taskqueue import PROGRESS_FILE_ENV, Stall, TaskQueueState, task_queue_event_record
from tests.faults.processes import free_port

BASE_DIR = Path(__file__).resolve().parents[2]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.slow
@pytest.mark.own_services
def test_serve_answers_and_stops_cleanly_on_sigterm(tmp_path):
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE")},
        "ENV_FILE": "",
        "DEBUG": "0",
        "SESSION_SECRET": secrets.token_urlsafe(50),
        "DASHBOARD_KEY": "serve-test-key",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}",
        "LOG_DIR": str(tmp_path / "logs"),
        "CACHE_DIR": str(tmp_path / "cache"),
        "SERVE_RUN_DIR": str(tmp_path / "run"),
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "Q_WORKERS": "1",
    }
    manage = [sys.executable, "manage.py"]
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        subprocess.run([*manage, *command], cwd=BASE_DIR, env=env, check=True, capture_output=True, timeout=300)
    server = subprocess.Popen(
        [*manage, "serve"], cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if get(f"http://127.0.0.1:{port}/livez")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "server did not come up"
            assert server.poll() is None, server.stdout.read().decode()
            time.sleep(0.3)
        status, html = get(f"http://127.0.0.1:{port}/admin/login/")
        assert status == 200 and "EchoPilot Ops" in html
        assert get(f"http://127.0.0.1:{port}/static/admin/css/base.css")[0] == 200
        assert get(f"http://127.0.0.1:{port}/readyz")[0] == 200
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=45) == 0
    finally:
        if server.poll() is None:
            server.kill()
    output = server.stdout.read().decode()
    assert "started web1" in output and "started q1" in output
    assert output.rstrip().endswith("stopped")
    assert "did not stop in time" not in output


def test_serve_refuses_several_qclusters_on_sqlite(settings):
    settings.DB_IS_SQLITE = True
    with pytest.raises(CommandError, match="need PostgreSQL"):
        call_command("serve", qclusters=2)


def test_serve_needs_at_least_one_child():
    with pytest.raises(CommandError, match="one of them at least 1"):
        call_command("serve", web_nodes=0, qclusters=0)
    with pytest.raises(CommandError, match="must not be negative"):
        call_command("serve", web_nodes=-1, qclusters=1)


# --- The supervisor's process groups and pid file (echopilot/supervisor.py) ----------------------


def group(script: str) -> Child:
    """A child running ``bash -c script`` in a process group of its own, as serve starts its children.

    Returns once the group holds both of the script's ``sleep 300``.
    """
    child = Child(role="t1", command=["bash", "-c", script], env={"NODE_NAME": "t"}, cluster=False)
    child.process = subprocess.Popen(child.command, start_new_session=True)
    child.create_time = psutil.Process(child.process.pid).create_time()
    deadline = time.monotonic() + 10
    while sum(member.cmdline() == ["sleep", "300"] for member in group_members(child.pgid)) < 2:
        assert time.monotonic() < deadline, "the group never had its two sleeps"
        time.sleep(0.05)
    return child


@pytest.mark.slow
def test_a_group_that_ignores_sigterm_is_killed_after_the_bound(settings):
    settings.SERVE_STOP_SECONDS = 1
    child = group("trap '' TERM; sleep 300 & sleep 300")
    said = []
    stop_children([child], graceful=True, say=said.append)
    assert group_members(child.pgid) == []
    assert said and said[0].startswith("t1 did not stop in 1 s; killing pid ")


def test_a_group_whose_leader_is_gone_is_still_stopped(settings):
    settings.SERVE_STOP_SECONDS = 5
    child = group("sleep 300 & sleep 300 & wait")
    child.process.kill()  # the leader dies alone; its children run on in its group
    child.process.wait()
    assert len(group_members(child.pgid)) == 2
    said = []
    stop_children([child], graceful=True, say=said.append)
    assert group_members(child.pgid) == []
    assert said == []  # SIGTERM to the whole group was enough


def test_an_earlier_run_is_named_while_any_of_its_processes_lives(tmp_path, settings):
    settings.SERVE_STOP_SECONDS = 5
    child = group("sleep 300 & sleep 300 & wait")
    path = tmp_path / "serve.json"
    record = {"role": "q1", "pgid": child.pgid, "create_time": child.create_time, "command": child.command}
    path.write_text(json.dumps({"serve": {"pid": 999999, "create_time": 1.0}, "children": [record]}))
    try:
        [line] = earlier_run_alive(path)
        assert line.startswith(f"q1 (process group {child.pgid}): pid {child.pgid} (bash -c ")
        assert line.count("(sleep 300)") == 2
    finally:
        stop_children([child], graceful=False, say=print)
    assert earlier_run_alive(path) == []


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[1, 2]",
        json.dumps({"children": [{"role": "q1", "pgid": 0, "create_time": 0}]}),
        json.dumps({"children": [{"role": "q1", "pgid": 1, "create_time": 0}]}),
        json.dumps({"children": [{"role": "q1", "pgid": -5, "create_time": 0}]}),
        json.dumps({"children": [{"role": "q1", "pgid": "x"}, None, 7]}),
        json.dumps({"serve": {"pid": os.getpid(), "create_time": 1.0}}),  # a reused pid: another process
        json.dumps({"children": [{"role": "q1", "pgid": os.getpgrp(), "create_time": time.time() + 60}]}),
    ],
    # Ids that do not name this process's pid or the time: pytest-xdist's workers must collect the same tests.
    ids=["not-json", "a-list", "pgid-0", "pgid-1", "pgid-negative", "garbled-children", "reused-pid", "future-group"],
)
def test_a_garbled_or_stale_pid_file_names_nothing(tmp_path, content):
    path = tmp_path / "serve.json"
    path.write_text(content)
    assert earlier_run_alive(path) == []


# --- When the watchdog calls a qcluster stalled (echopilot.supervisor.stall_reason) -----------------


@pytest.fixture
def limits(settings):
    settings.TASKS_STALL_SECONDS = 15
    settings.TASKS_START_GRACE_SECONDS = 5


def cluster(tmp_path, *, started_ago: float, finished_ago: float | None = None) -> Child:
    progress = tmp_path / "q1.progress"
    child = Child(role="q1", command=[], env={"NODE_NAME": "n-q1", PROGRESS_FILE_ENV: str(progress)}, cluster=True)
    child.started_at = time.time() - started_ago
    if finished_ago is not None:
        finished(child, ago=finished_ago)
    return child


def finished(child: Child, *, ago: float) -> None:
    """Its monitor touched the progress file ``ago`` seconds ago."""
    child.progress_file.touch()
    moment = time.time() - ago
    os.utime(child.progress_file, (moment, moment))


def test_work_that_arrives_long_after_the_start_counts_from_its_arrival(tmp_path, limits):
    child = cluster(tmp_path, started_ago=40)  # the first tasks come with the scheduler's first pass, 30 s in
    now = time.time()
    child.observe(working=True, now=now)
    assert stall_reason(child, now=now, overdue=None) is None
    child.observe(working=True, now=now + 14)
    assert stall_reason(child, now=now + 14, overdue=None) is None
    child.observe(working=True, now=now + 16)
    assert stall_reason(child, now=now + 16, overdue=None) == "holds tasks and finished none for 16 s"


def test_a_finished_task_starts_the_count_anew(tmp_path, limits):
    child = cluster(tmp_path, started_ago=100)
    now = time.time()
    child.observe(working=True, now=now - 30)
    finished(child, ago=2)  # busy, but it gets through its work
    child.observe(working=True, now=now)
    assert stall_reason(child, now=now, overdue=None) is None
    child.observe(working=False, now=now + 1)
    assert child.holding_since is None


def test_an_idle_cluster_is_stalled_only_while_the_heartbeat_or_a_schedule_is_overdue(tmp_path, limits):
    child = cluster(tmp_path, started_ago=100)
    now = time.time()
    child.observe(working=False, now=now)
    assert stall_reason(child, now=now, overdue=None) is None
    overdue = Stall(since=timezone.now(), reason="heartbeat overdue")
    assert stall_reason(child, now=now, overdue=overdue) == "finished no task for 100 s and the heartbeat overdue"
    finished(child, ago=3)  # this one works; another node is the problem
    assert stall_reason(child, now=time.time(), overdue=overdue) is None


def test_nothing_is_judged_in_the_grace_after_a_start(tmp_path, limits):
    child = cluster(tmp_path, started_ago=3)
    child.holding_since = time.time() - 600
    assert stall_reason(child, now=time.time(), overdue=Stall(since=timezone.now(), reason="x")) is None


def test_a_missing_status_report_neither_starts_nor_ends_the_count(tmp_path, limits):
    child = cluster(tmp_path, started_ago=100)
    now = time.time()
    child.observe(working=True, now=now - 20)
    child.observe(working=None, now=now)  # the broker's statistics could not be read this time
    assert stall_reason(child, now=now, overdue=None) == "holds tasks and finished none for 20 s"
    (tmp_path / "idle").mkdir()
    idle = cluster(tmp_path / "idle", started_ago=100)
    idle.observe(working=None, now=now)
    assert idle.holding_since is None


def test_serve_refuses_a_run_dir_it_cannot_write(tmp_path, settings):
    blocker = tmp_path / "file"
    blocker.write_text("")
    settings.SERVE_RUN_DIR = blocker / "run"  # below a file: cannot be created
    with pytest.raises(CommandError, match="SERVE_RUN_DIR .* is not a writable directory"):
        call_command("serve", web_nodes=0, qclusters=1)


@pytest.mark.django_db
def test_an_overlong_node_name_is_cut_to_fit(read_audit, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        row = task_queue_event_record(node="n" * 300 + "-q1", event="exited", reason="r" * 1000)
    row.refresh_from_db()
    assert row.node == "n" * 100 and len(row.reason) == 300
    assert read_audit("task_queue")[0]["node"] == "n" * 100


def test_a_qcluster_that_cannot_be_started_again_is_retried_later(tmp_path, settings):
    settings.SERVE_RUN_DIR = tmp_path
    child = Child(role="q1", command=[str(tmp_path / "missing")], env={"NODE_NAME": "n-q1"}, cluster=True)
    child.restart_at = time.monotonic() - 1  # a restart is due
    child.restarts = 2
    said = []
    assert Supervisor([child], say=said.append).tick() == 0
    assert child.process is None and child.restarts == 3
    assert child.restart_at > time.monotonic() + 3  # the backoff grew: 4 s
    assert said == ["restarting q1 in 4 s"]


@pytest.mark.django_db(transaction=True)
def test_an_unreadable_database_is_said_once_and_its_return_once(tmp_path, monkeypatch, settings):
    settings.SERVE_RUN_DIR = tmp_path
    child = Child(role="q1", command=["sleep", "30"], env={"NODE_NAME": "n-q1"}, cluster=True)
    child.process = subprocess.Popen(child.command, start_new_session=True)
    said = []
    supervisor = Supervisor([child], say=said.append)

    def down(**kwargs):
        raise ConnectionError("database down")

    try:
        monkeypatch.setattr("echopilot.supervisor.task_queue_state", down)
        for _ in range(3):
            supervisor.watch()
        assert said == ["watchdog: cannot read the task queue's state (ConnectionError); judging nothing"]
        monkeypatch.setattr("echopilot.supervisor.task_queue_state", lambda: TaskQueueState(now=timezone.now()))
        monkeypatch.setattr("echopilot.supervisor.cluster_statuses", dict)
        supervisor.watch()
        supervisor.watch()
        assert said[1:] == ["watchdog: the task queue's state can be read again"]
    finally:
        child.process.kill()
        child.process.wait()
