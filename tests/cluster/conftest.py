"""The real thing for the multi-node tests: two gunicorn nodes and two qclusters (``manage.py serve``).

They run against a fresh PostgreSQL database on the server of ``DATABASE_URL``, a Redis
database of their own on the server of ``REDIS_URL`` and a local SMTP server, and are
driven over HTTP; results are read from their database with psycopg.
"""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import redis

from tests.notifications.conftest import SmtpServer
from tests.payments.stripe_events import SECRET as WEBHOOK_SECRET

BASE_DIR = Path(__file__).resolve().parents[2]
DASH_KEY = "cluster-dash-key"
GUARD_MAX_PER_HOUR = 5
REDIS_DB = 11


def _with_path(url: str, path: str) -> str:
    return urlsplit(url)._replace(path=path).geturl()


def _free_port_pair() -> int:
    """A port p such that p and p + 1 are both free (serve binds PORT and PORT+1)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def http(url: str, body: bytes, headers: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def at_once(count: int, work) -> list:
    """Run work(i) in ``count`` threads released together by a barrier; returns the results in order."""
    results = [None] * count
    barrier = threading.Barrier(count)

    def target(index):
        barrier.wait()
        try:
            results[index] = work(index)
        except Exception as exc:  # surfaced by the assertions
            results[index] = exc

    threads = [threading.Thread(target=target, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@dataclass(frozen=True)
class Cluster:
    ports: tuple[int, int]
    database_url: str
    smtp: SmtpServer

    def post(self, node: int, path: str, body: bytes, headers: dict) -> tuple[int, dict]:
        """POST to web node ``node % 2``."""
        return http(f"http://127.0.0.1:{self.ports[node % 2]}{path}", body, headers)

    def post_api(self, node: int, path: str, data: dict) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json", "X-Dash-Key": DASH_KEY}
        return self.post(node, path, json.dumps(data).encode(), headers)

    def query(self, sql: str, params=()) -> list[tuple]:
        with psycopg.connect(self.database_url) as conn:
            return conn.execute(sql, params).fetchall()


def _livez(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _stop(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGTERM)  # serve stops its gunicorns and qclusters, then exits
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    scratch = tmp_path_factory.mktemp("cluster")
    name = f"echopilot_cluster_{secrets.token_hex(4)}"
    server_url = os.environ["DATABASE_URL"]
    database_url = _with_path(server_url, f"/{name}")
    redis_url = _with_path(os.environ["REDIS_URL"], f"/{REDIS_DB}")
    port = _free_port_pair()
    with ExitStack() as stack:
        with psycopg.connect(_with_path(server_url, "/postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

        def drop_database():
            with psycopg.connect(_with_path(server_url, "/postgres"), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        stack.callback(drop_database)
        broker = stack.enter_context(redis.Redis.from_url(redis_url))
        broker.flushdb()
        stack.callback(broker.flushdb)
        smtp = SmtpServer()
        smtp.start()
        stack.callback(smtp.stop)

        env = {
            **{key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"},
            "ENV_FILE": "",
            "DEBUG": "0",
            "SESSION_SECRET": secrets.token_urlsafe(50),
            "DASHBOARD_KEY": DASH_KEY,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "NODE_NAME": "cluster",
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp.port),
            "SMTP_SECURITY": "none",
            "LOG_DIR": str(scratch / "logs"),
            "CACHE_DIR": str(scratch / "cache"),
            "SERVE_RUN_DIR": str(scratch / "run"),
            "GUARD_MAX_PER_HOUR": str(GUARD_MAX_PER_HOUR),
            "WEB_CONCURRENCY": "2",
            "Q_WORKERS": "2",
        }
        for command in (["migrate", "--noinput"], ["sync_schedules"]):
            subprocess.run([sys.executable, "manage.py", *command], cwd=BASE_DIR, env=env, check=True)
        output = stack.enter_context((scratch / "serve.log").open("wb"))
        server = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--web-nodes", "2", "--qclusters", "2", "--port", str(port)],
            cwd=BASE_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        stack.callback(_stop, server)
        deadline = time.monotonic() + 90
        while not (_livez(port) and _livez(port + 1)):
            log = (scratch / "serve.log").read_text()
            assert server.poll() is None, f"serve exited:\n{log[-3000:]}"
            assert time.monotonic() < deadline, f"the web nodes did not come up:\n{log[-3000:]}"
            time.sleep(0.5)
        yield Cluster(ports=(port, port + 1), database_url=database_url, smtp=smtp)
