"""Two nodes on PostgreSQL + Redis, each its own ``serve``: one node's stalled qcluster is restarted by its own
supervisor while the other node keeps processing, and schedules still run once per period.

Runs where ``DATABASE_URL`` is PostgreSQL (``.ci/run``'s second pass): a fresh database on that server and a
Redis server of the test's own.
"""

import os
import secrets
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.faults.processes import BASE_DIR, Redis, Serve, app_env, cluster_workers, free_port, manage, wait_until
from tests.faults.test_qcluster_watchdog import WATCHDOG

pytestmark = [
    pytest.mark.slow,
    pytest.mark.cluster,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
        reason="needs DATABASE_URL=postgres://… (a server to create a database on)",
    ),
]


def _with_path(url: str, path: str) -> str:
    return urlsplit(url)._replace(path=path).geturl()


@pytest.fixture
def database():
    server = os.environ["DATABASE_URL"]
    name = f"echopilot_watchdog_{secrets.token_hex(4)}"
    with psycopg.connect(_with_path(server, "/postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _with_path(server, f"/{name}")
    with psycopg.connect(_with_path(server, "/postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis():
    instance = Redis()
    yield instance
    instance.stop()


def query(url: str, sql: str, params=()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def test_a_stalled_qcluster_is_restarted_by_its_own_node_while_the_other_keeps_working(tmp_path, database, redis):
    common = {**WATCHDOG, "DATABASE_URL": database, "REDIS_URL": redis.url, "SESSION_SECRET": secrets.token_urlsafe(50)}
    nodes = {}
    for name in ("a", "b"):
        scratch = tmp_path / name
        scratch.mkdir()
        node = {"NODE_NAME": f"node{name}", "PORT": str(free_port())}
        nodes[name] = app_env(scratch, **{**common, **node})
    manage(nodes["a"], "migrate", "--noinput")
    manage(nodes["a"], "sync_schedules")
    ran = tmp_path / "ran.txt"  # one line per record_node task: the node that ran it
    # Ready to queue tasks the moment the workers are dead (a Django start takes seconds).
    enqueuer = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c",
         "import sys; from django_q.tasks import async_task; print('ready', flush=True); sys.stdin.readline(); "
         f"[async_task('tests.faults.tasks.record_node', {str(ran)!r}) for _ in range(12)]; print('queued')"],
        cwd=BASE_DIR, env=nodes["b"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    servers = {name: Serve(env, tmp_path / name / "serve.log") for name, env in nodes.items()}
    try:
        for server in servers.values():
            server.wait_up()
        [qcluster] = servers["a"].children("qcluster")
        wait_until(lambda: len(qcluster.children(recursive=True)) == 5, timeout=30, message="qcluster a not up")
        assert enqueuer.stdout.readline().strip() == "ready"
        # Before the scheduler's first pass (30 s in), while both workers wait for work, so the one killed while
        # holding the task queue's lock wedges node a. Its pusher takes some of the tasks queued next (lost with
        # Redis, which has no receipts) until its queue is full; the scheduled ones then go to node b.
        assert not query(database, "SELECT 1 FROM django_q_task"), "tasks ran already: too late to wedge node a"
        for worker in cluster_workers(qcluster, 2):
            worker.kill()
        enqueuer.communicate("go\n", timeout=60)

        def node_events(node: str) -> list[str]:
            rows = query(database, "SELECT event FROM echopilot_taskqueueevent WHERE node = %s ORDER BY id", [node])
            return [event for (event,) in rows]

        wait_until(lambda: "stalled" in node_events("nodea-q1"), timeout=60, message=servers["a"].output()[-3000:])
        # Node b ran what node a could not, while node a was stalled.
        assert "nodeb-q1" in ran.read_text().split()
        wait_until(lambda: "recovered" in node_events("nodea-q1"), timeout=60, message=servers["a"].output()[-3000:])
        assert node_events("nodea-q1") == ["stalled", "restarted", "recovered"]
        assert node_events("nodeb-q1") == []
        assert "restarted q1 (pid" in servers["a"].output()
        assert "stalled" not in servers["b"].output()

        # Schedules ran once per period: the heartbeat (every minute) in every period that has ended,
        # up to and including the one in which node a was restarted. Periods are the schedule's own.
        [(restarted_at,)] = query(
            database, "SELECT created_at FROM echopilot_taskqueueevent WHERE event = 'restarted' ORDER BY id LIMIT 1"
        )

        def period(moment: datetime, next_run: datetime) -> int:
            return int((moment - next_run).total_seconds() // 60)

        def restart_period_over() -> bool:
            [(next_run,)] = query(database, "SELECT next_run FROM django_q_schedule WHERE name = 'heartbeat'")
            return period(datetime.now(UTC), next_run) > period(restarted_at, next_run)

        wait_until(restart_period_over, timeout=90, interval=1, message="the restart's period did not end")
        [(next_run,)] = query(database, "SELECT next_run FROM django_q_schedule WHERE name = 'heartbeat'")
        beats = query(database, "SELECT created_at, node FROM echopilot_heartbeat ORDER BY created_at")
        runs = Counter(period(created_at, next_run) for created_at, _ in beats)
        complete = range(min(runs), period(datetime.now(UTC), next_run))
        assert {index: runs[index] for index in complete} == dict.fromkeys(complete, 1), beats
        assert period(restarted_at, next_run) in complete
    finally:
        enqueuer.kill()
        for server in servers.values():
            server.signal(signal.SIGTERM)
        for server in servers.values():
            try:
                server.process.wait(timeout=60)
            finally:
                server.kill_everything()
