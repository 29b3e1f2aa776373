"""Load: the realistic mix of bench/locustfile.py against `make run` (SQLite) and cluster mode (PostgreSQL).

    .venv/bin/python bench/load.py [--mode sqlite|cluster|both] [--users 20] [--seconds 30]

Each mode gets a fresh database with 5,000 seeded payments, then `manage.py serve`
(one web node and one qcluster on SQLite; two of each on PostgreSQL + Redis for
cluster mode) and a headless locust run. Rate limits of portal links are raised
for the run (the mix measures throughput, not the limiter); SMTP and Telegram are
not configured, so emails are recorded as dry runs. Writes bench/out/load.json.
"""

import argparse
import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    BASE_DIR,
    OUT_DIR,
    bench_database_url,
    bench_env,
    free_port,
    machine,
    manage,
    recreate_postgres_database,
)

DEFAULT_REDIS = "redis://127.0.0.1:6379/13"


def customer_emails(env: dict, limit: int = 500) -> list[str]:
    url = env["DATABASE_URL"]
    query = f"SELECT DISTINCT email FROM payments_payment ORDER BY email LIMIT {limit}"
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return [row[0] for row in conn.execute(query)]
    import psycopg

    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute(query)]


def wait_ready(ports: list[int], server: subprocess.Popen) -> None:
    import urllib.request

    deadline = time.monotonic() + 90
    for port in ports:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the service did not come up") from None
                time.sleep(0.5)


def run_mode(mode: str, users: int, seconds: int, database_url: str, redis_url: str) -> dict:
    scratch = Path(tempfile.mkdtemp(prefix=f"echopilot-load-{mode}-"))
    extra = {
        "PORTAL_RATE_PER_KEY": "1000000",
        "PORTAL_RATE_PER_EMAIL": "1000000",
        "DJANGO_SETTINGS_MODULE": "echopilot.settings",
    }
    if mode == "cluster":
        recreate_postgres_database(database_url)
        env = bench_env(database_url, REDIS_URL=redis_url, **extra)
        nodes = 2
    else:
        env = bench_env(f"sqlite:///{scratch / 'load.sqlite3'}", **extra)
        nodes = 1
    manage(env, "migrate", "--noinput")
    manage(env, "sync_schedules")
    manage(env, "collectstatic", "--noinput")
    manage(env, "seed_demo", "--payments", "5000", "--days", "30", "--seed", "7")
    emails_file = scratch / "emails.txt"
    emails_file.write_text("\n".join(customer_emails(env)))
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "serve",
            "--web-nodes",
            str(nodes),
            "--qclusters",
            str(nodes),
            "--port",
            str(port),
        ],
        cwd=BASE_DIR,
        env={**env, "WEB_CONCURRENCY": "2"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ports = [port + n for n in range(nodes)]
        wait_ready(ports, server)
        prefix = scratch / "locust"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(BASE_DIR / "bench" / "locustfile.py"),
                "--headless",
                "-u",
                str(users),
                "-r",
                str(users),
                "-t",
                f"{seconds}s",
                "--csv",
                str(prefix),
                "--only-summary",
            ],
            cwd=BASE_DIR,
            check=False,
            capture_output=True,
            env={
                **os.environ,
                "LOAD_HOSTS": ",".join(f"http://127.0.0.1:{p}" for p in ports),
                "LOAD_KEY": env["DASHBOARD_KEY"],
                "LOAD_EMAILS_FILE": str(emails_file),
            },
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    with open(f"{prefix}_stats.csv") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}

    def figures(row):
        count = int(row["Request Count"])
        return {
            "requests": count,
            "rps": float(row["Requests/s"]),
            "p50_ms": float(row["50%"]),
            "p95_ms": float(row["95%"]),
            "p99_ms": float(row["99%"]),
            "error_rate": int(row["Failure Count"]) / count if count else 0.0,
        }

    return {
        "database": "PostgreSQL + Redis, 2 web nodes, 2 qclusters"
        if mode == "cluster"
        else "SQLite, 1 web node, 1 qcluster",
        "total": figures(rows["Aggregated"]),
        "endpoints": {name: figures(row) for name, row in rows.items() if name != "Aggregated"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["sqlite", "cluster", "both"], default="both")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--database-url", default=bench_database_url("echopilot_load"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
    args = parser.parse_args()
    modes = ["sqlite", "cluster"] if args.mode == "both" else [args.mode]
    result = {"machine": machine(), "users": args.users, "seconds": args.seconds, "modes": {}}
    for mode in modes:
        result["modes"][mode] = run_mode(mode, args.users, args.seconds, args.database_url, args.redis_url)
        total = result["modes"][mode]["total"]
        print(
            f"{mode:<8} {total['rps']:8.1f} req/s  p50 {total['p50_ms']:.0f} ms  p95 {total['p95_ms']:.0f} ms  "
            f"p99 {total['p99_ms']:.0f} ms  errors {total['error_rate']:.2%}  ({result['modes'][mode]['database']})"
        )
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "load.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
