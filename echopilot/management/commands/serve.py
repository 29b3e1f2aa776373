"""Run gunicorn and qcluster together, as ``make run`` and ``make run-cluster`` do."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'  # path only: no query strings in logs


class Command(BaseCommand):
    help = (
        "Start the web server (gunicorn) and the task cluster (qcluster) and supervise them: "
        "Ctrl-C or SIGTERM stops all of them; if one exits, the others are stopped too."
    )

    def add_arguments(self, parser):
        parser.add_argument("--web-nodes", type=int, default=1, help="gunicorn nodes, on PORT, PORT+1, ...")
        parser.add_argument("--qclusters", type=int, default=1, help="qcluster nodes (several need PostgreSQL)")
        parser.add_argument("--port", type=int, default=None, help="first port (default: PORT)")

    def handle(self, *args, web_nodes=1, qclusters=1, port=None, **options):
        if web_nodes < 1 or qclusters < 0:
            raise CommandError("--web-nodes must be at least 1 and --qclusters at least 0.")
        if qclusters > 1 and settings.DB_IS_SQLITE:
            raise CommandError(
                "Several qclusters need PostgreSQL: on SQLite the scheduler cannot lock schedule rows, "
                "so each cluster would run every schedule. Set DATABASE_URL to a PostgreSQL database."
            )
        port = port or settings.PORT
        host = f"[{settings.HOST}]" if ":" in settings.HOST else settings.HOST  # gunicorn wants IPv6 in brackets
        base = Path(settings.BASE_DIR)
        commands = []
        for index in range(web_nodes):
            commands.append(
                (
                    f"web{index + 1}",
                    [
                        sys.executable,
                        "-m",
                        "gunicorn",
                        "echopilot.wsgi:application",
                        "--bind",
                        f"{host}:{port + index}",
                        "--workers",
                        str(settings.WEB_CONCURRENCY),
                        "--timeout",
                        "30",
                        "--graceful-timeout",
                        "20",
                        "--access-logfile",
                        "-",
                        "--access-logformat",
                        ACCESS_LOG_FORMAT,
                    ],
                )
            )
        for index in range(qclusters):
            commands.append((f"q{index + 1}", [sys.executable, str(base / "manage.py"), "qcluster"]))

        stopping = False

        def request_stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)

        children = []
        for role, command in commands:
            env = {**os.environ, "NODE_NAME": f"{settings.NODE_NAME}-{role}"}
            # Own session: Ctrl-C reaches only this supervisor, which stops the children in order.
            children.append((role, subprocess.Popen(command, cwd=base, env=env, start_new_session=True)))  # noqa: S603
            self.stderr.write(f"started {role} (pid {children[-1][1].pid})")
        self.stderr.write(f"serving on http://{host}:{port} — Ctrl-C stops everything")

        exit_code = 0
        while not stopping:
            for role, child in children:
                if child.poll() is not None:
                    self.stderr.write(f"{role} exited with {child.returncode}; stopping the others")
                    exit_code = child.returncode or 1
                    stopping = True
                    break
            time.sleep(0.5)

        for _, child in children:
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + 30
        for role, child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{role} did not stop in time; killing it")
                child.kill()
                child.wait()
        self.stderr.write("stopped")
        if exit_code:
            sys.exit(exit_code)
