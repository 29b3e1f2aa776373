"""Real processes for the fault tests: our own PostgreSQL and Redis (never the machine's), gunicorn, qcluster."""

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

BASE_DIR = Path(__file__).resolve().parents[2]
DASH_KEY = "fault-test-key"
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, *, timeout: float, message: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s: {message}")
        time.sleep(interval)


def app_env(scratch: Path, **extra: str) -> dict:
    """The environment of an app process: SQLite, a file cache and serve's pid file in ``scratch`` unless ``extra`` says otherwise.

    Nothing is left in the checkout's var/, so two test runs in one checkout (TEST_DB_SUFFIX) never see each other's serve.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(
        {
            "ENV_FILE": "",
            "DEBUG": "0",
            "SESSION_SECRET": secrets.token_urlsafe(50),
            "DASHBOARD_KEY": DASH_KEY,
            "DATABASE_URL": f"sqlite:///{scratch / 'app.sqlite3'}",
            "LOG_DIR": str(scratch / "logs"),
            "CACHE_DIR": str(scratch / "cache"),
            "SERVE_RUN_DIR": str(scratch / "run"),
            "LOG_LEVEL": "warning",
            **extra,
        }
    )
    return env


def manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def start_manage(env: dict, *args: str) -> subprocess.Popen:
    """``manage.py <args>`` in the background, in its own process group (stop it with ``os.killpg``), output dropped."""
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def request(port: int, method: str, path: str, body: dict | None = None, timeout: float = 15) -> tuple[int, dict, dict]:
    """One API call with the dashboard key: (status, parsed JSON body, headers)."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"X-Dash-Key": DASH_KEY, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


class Gunicorn:
    """``gunicorn echopilot.wsgi`` on a free port, as ``make run`` serves it."""

    def __init__(self, env: dict, workers: int = 2):
        self.port = free_port()
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (kept open for the server's life; closed in stop())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "echopilot.wsgi:application", "--bind", f"127.0.0.1:{self.port}"]
            + ["--workers", str(workers), "--timeout", "60", "--log-level", "warning"],
            cwd=BASE_DIR,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(self._up, timeout=60, message=f"gunicorn did not start:\n{self.output()}")

    def _up(self) -> bool:
        assert self.process.poll() is None, self.output()
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}/livez", timeout=1)
        except OSError:
            return False
        return True

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


class Postgres:
    """A PostgreSQL cluster of our own (initdb in a temporary directory, its own port), stopped and started at will."""

    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="echopilot-pg-"))
        self.data = self.dir / "data"
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/echopilot"
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "--no-sync")
        self.start()
        self._run(PG_BIN / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "echopilot")

    def _run(self, *command) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *map(str, command)], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-o", options, "-l", self.dir / "log", "-w", "start")

    def stop(self) -> None:
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis:
    """A redis-server of our own on a free port, without persistence."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + ["--daemonize", "no"],
            stdout=subprocess.DEVNULL,
        )
        wait_until(self._up, timeout=10, message="redis-server did not start")

    def _up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class Serve:
    """``manage.py serve`` (what ``make run`` starts) with ``env``; its output goes to ``log``.

    ``env`` needs PORT (unless there is no web node); ``args`` go to serve (``--qclusters 2`` ...).
    """

    def __init__(self, env: dict, log: Path, *args: str):
        self.env = env
        self.log = log
        self.port = int(env.get("PORT", 0))
        self.groups: set[int] = set()  # every process group seen under serve, for kill_everything()
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "serve", *args],
                cwd=BASE_DIR,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_up(self, *, web: bool = True, qclusters: int = 1, timeout: float = 60) -> None:
        def up() -> bool:
            assert self.process.poll() is None, f"serve exited:\n{self.output()[-3000:]}"
            if len(self.children("qcluster")) < qclusters:
                return False
            if not web:
                return True
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/livez", timeout=1)
            except OSError:
                return False
            return True

        wait_until(up, timeout=timeout, message=f"serve did not come up:\n{self.output()[-3000:]}")

    def children(self, kind: str) -> list[psutil.Process]:
        """serve's direct children whose command line names ``kind`` ("qcluster", "gunicorn"), oldest first."""
        found = []
        for child in psutil.Process(self.process.pid).children():
            try:
                if any(kind in part for part in child.cmdline()):
                    found.append(child)
                    self.groups.add(os.getpgid(child.pid))
            except (psutil.Error, ProcessLookupError):
                continue
        return sorted(found, key=lambda child: child.create_time())

    def tree(self) -> list[psutil.Process]:
        """serve and every process below it."""
        top = psutil.Process(self.process.pid)
        processes = [top, *top.children(recursive=True)]
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                self.groups.add(os.getpgid(process.pid))
        return processes

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def kill_everything(self) -> None:
        """Clean-up after a test: SIGKILL serve and every process group it started, whatever state they are in."""
        with contextlib.suppress(psutil.Error):
            self.tree()
        for pgid in (self.groups | {self.process.pid}) - {os.getpgrp()}:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


def cluster_workers(qcluster: psutil.Process, count: int) -> list[psutil.Process]:
    """The worker processes of a qcluster whose workers were not replaced yet: its sentinel's first ``count`` children.

    The sentinel forks its workers first, then the monitor and the pusher. Start times have the kernel's
    clock-tick resolution, so ties are broken by the process id, which the kernel hands out in order.
    """
    [sentinel] = qcluster.children()
    return sorted(sentinel.children(), key=lambda child: (child.create_time(), child.pid))[:count]


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running (a zombie waiting for its parent is not)."""
    running = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                running.append(process)
    return running
