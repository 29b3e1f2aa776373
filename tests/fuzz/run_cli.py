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
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(BASE_DIR))

from tests.faults.processes import Serve, app_env, free_port, manage, wait_until  # noqa: E402

STOP_SECONDS = 30


def ready(port: int, serve: Serve) -> bool:
    assert serve.process.poll() is None, f"the server exited:\n{serve.output()[-3000:]}"
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def stop(serve: Serve) -> None:
    """SIGTERM to serve (it stops gunicorn and the qcluster); everything it started is killed if it hangs."""
    if serve.process.poll() is None:
        os.killpg(serve.process.pid, signal.SIGTERM)
        try:
            serve.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            serve.kill_everything()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=60, help="test cases per operation (st run -n)")
    parser.add_argument("--seed", type=int, default=None, help="schemathesis' random seed, to repeat a run")
    parser.add_argument("st_args", nargs="*", help="more options for st run, after --")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="echopilot-fuzz-") as directory:
        scratch = Path(directory)
        port, key = free_port(), secrets.token_urlsafe(24)
        # No SMTP, Telegram or webhook secret from the caller's environment: the run sends nothing anywhere.
        env = {
            name: value
            for name, value in app_env(scratch, DASHBOARD_KEY=key, HOST="127.0.0.1", PORT=str(port)).items()
            if not name.startswith(("SMTP_", "TELEGRAM_", "STRIPE_"))
        }
        env.update(WEB_CONCURRENCY="2", Q_WORKERS="1")
        manage(env, "migrate", "--noinput")
        manage(env, "sync_schedules")
        serve = Serve(env, scratch / "serve.log")
        try:
            wait_until(lambda: ready(port, serve), timeout=90, message=f"not ready:\n{serve.output()[-3000:]}")
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
            stop(serve)


if __name__ == "__main__":
    sys.exit(main())
