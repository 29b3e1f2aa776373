"""Run gunicorn and qcluster together, as ``make run`` and ``make run-cluster`` do (see echopilot/supervisor.py)."""

import os
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from echopilot.supervisor import Child, Supervisor, earlier_run_alive, live_clusters_here, pidfile_path
from echopilot.taskqueue import PROGRESS_FILE_ENV

ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'  # path only: no query strings in logs


class Command(BaseCommand):
    help = (
        "Start the web server (gunicorn) and the task cluster (qcluster) and supervise them: a qcluster that "
        "exits or stalls is restarted; Ctrl-C or SIGTERM stops all of them; if a web node exits, the others "
        "are stopped too."
    )

    def add_arguments(self, parser):
        parser.add_argument("--web-nodes", type=int, default=1, help="gunicorn nodes, on PORT, PORT+1, ... (0: none)")
        parser.add_argument("--qclusters", type=int, default=1, help="qcluster nodes (several need PostgreSQL)")
        parser.add_argument("--port", type=int, default=None, help="first port (default: PORT)")

    def handle(self, *args, web_nodes=1, qclusters=1, port=None, **options):
        if web_nodes < 0 or qclusters < 0 or web_nodes + qclusters == 0:
            raise CommandError("--web-nodes and --qclusters must not be negative, and one of them at least 1.")
        if qclusters > 1 and settings.DB_IS_SQLITE:
            raise CommandError(
                "Several qclusters need PostgreSQL: on SQLite the scheduler cannot lock schedule rows, "
                "so each cluster would run every schedule. Set DATABASE_URL to a PostgreSQL database."
            )
        alive = earlier_run_alive()
        if qclusters and settings.DB_IS_SQLITE:  # one qcluster only, wherever it came from
            alive += live_clusters_here()
        if alive:
            raise CommandError(
                "Processes of an earlier run are still alive:\n  "
                + "\n  ".join(alive)
                + f"\nStop them first (kill -TERM <pid>, or kill -TERM -- -<process group>); pid file: {pidfile_path()}"
            )
        run_dir = Path(settings.SERVE_RUN_DIR)
        try:  # the pid file and the qclusters' progress files go there: fail before anything starts
            run_dir.mkdir(parents=True, exist_ok=True)
            probe = run_dir / f".probe.{os.getpid()}"
            probe.touch()
            probe.unlink()
        except OSError as exc:
            raise CommandError(f"SERVE_RUN_DIR {run_dir} is not a writable directory: {exc}") from None

        port = port or settings.PORT
        children = [
            Child(
                role=f"web{index + 1}",
                command=self.gunicorn(port + index),
                env=self.env(f"web{index + 1}"),
                cluster=False,
            )
            for index in range(web_nodes)
        ]
        for index in range(qclusters):
            role = f"q{index + 1}"
            env = {**self.env(role), PROGRESS_FILE_ENV: str(run_dir / f"{role}.progress")}
            children.append(Child(role=role, command=[sys.executable, "manage.py", "qcluster"], env=env, cluster=True))
        supervisor = Supervisor(children, say=self.stderr.write, snapshot_at_start=web_nodes > 0)
        if web_nodes:
            self.stderr.write(f"serving on http://{bind_host()}:{port} — Ctrl-C stops everything")
        exit_code = supervisor.run()
        if exit_code:
            sys.exit(exit_code)

    def env(self, role: str) -> dict:
        return {**os.environ, "NODE_NAME": f"{settings.NODE_NAME}-{role}"}

    def gunicorn(self, port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "echopilot.wsgi:application",
            "--bind",
            f"{bind_host()}:{port}",
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
        ]


def bind_host() -> str:
    """HOST as gunicorn and a URL want it: an IPv6 address in brackets."""
    return f"[{settings.HOST}]" if ":" in settings.HOST else settings.HOST
