"""The schemathesis CLI, every check and phase, against a live server this script starts and stops.

    .venv/bin/python tests/fuzz/run_cli.py [--examples 60] [--seed N] [-- more st run options]

Starts the service as ``make run`` does (``manage.py serve``: gunicorn and a qcluster) on a free port
with a scratch environment (SQLite, file cache, a fresh key; no SMTP, Telegram or webhook secret, and
no .env), waits for /readyz, runs ``st run <schema> -c all -n <examples>`` from the project directory,
so ``schemathesis.toml`` applies, stops the server and exits with schemathesis' status: non-zero on any
failure. ``make fuzz`` runs it with 60 examples per operation, ``.ci/run`` with 10.
"""

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent
STOP_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scratch_env(scratch: Path, port: int, key: str) -> dict:
    keep = {name: value for name, value in os.environ.items() if name in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
    return {
        **keep,
        "ENV_FILE": "",
        "DEBUG": "0",
        "SESSION_SECRET": secrets.token_urlsafe(50),
        "DASHBOARD_KEY": key,
        "DATABASE_URL": f"sqlite:///{scratch / 'fuzz.sqlite3'}",
        "LOG_DIR": str(scratch / "logs"),
        "CACHE_DIR": str(scratch / "cache"),
        "SERVE_RUN_DIR": str(scratch / "run"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "Q_WORKERS": "1",
        "LOG_LEVEL": "warning",
    }


def manage(env: dict, *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, check=True, stdout=subprocess.DEVNULL)


def wait_ready(port: int, server: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the server exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    sys.exit(f"the server was not ready within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def stop(server: subprocess.Popen) -> None:
    """SIGTERM to serve's process group (it stops gunicorn and the qcluster), SIGKILL if it hangs."""
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=60, help="test cases per operation (st run -n)")
    parser.add_argument("--seed", type=int, default=None, help="schemathesis' random seed, to repeat a run")
    parser.add_argument("st_args", nargs="*", help="more options for st run, after --")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="echopilot-fuzz-") as directory:
        scratch = Path(directory)
        port, key = free_port(), secrets.token_urlsafe(24)
        env = scratch_env(scratch, port, key)
        manage(env, "migrate", "--noinput")
        manage(env, "sync_schedules")
        log = scratch / "serve.log"
        with log.open("w") as output:
            server = subprocess.Popen(
                [sys.executable, "manage.py", "serve"],
                cwd=BASE_DIR,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_ready(port, server, log)
            command = [
                str(Path(sys.executable).parent / "st"),
                "run",
                f"http://127.0.0.1:{port}/api/schema/?format=json",
            ]
            command += ["-H", f"X-Dash-Key: {key}", "-c", "all", "-n", str(args.examples)]
            command += ["--seed", str(args.seed)] if args.seed is not None else []
            command += args.st_args
            print(
                f"== st run -c all -n {args.examples} against http://127.0.0.1:{port} (schemathesis.toml)", flush=True
            )
            return subprocess.run(command, cwd=BASE_DIR, env={**os.environ, "NO_COLOR": "1"}).returncode
        finally:
            stop(server)


if __name__ == "__main__":
    sys.exit(main())
