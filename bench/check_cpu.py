"""Where a fraud check's time goes, measured without the noise of a shared load test.

One process, one database connection, no concurrency: POST /api/fraud/check and
the baseline endpoint (bench/urls.py) through Django's test client, alternating
in blocks, on a PostgreSQL database seeded like bench/fraud_check.py's. For each
it reports the CPU time of this process per request (Python: Django, DRF, the
driver's side of every round trip, the rules, the audit line), the CPU time of
its PostgreSQL backend (read from /proc: the server must run on this machine)
and the wall time per request (both plus waiting for the disk). ``--profile`` prints cProfile's
top functions of the check; ``--variant`` picks the settings the check runs by.

    .venv/bin/python bench/check_cpu.py [--checks 3000] [--variant default|signals|shadow] [--profile]
"""

import argparse
import cProfile
import os
import pstats
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_database_url, bench_env, manage, recreate_postgres_database  # noqa: E402
from bench.fraud_check import SIGNALS_ON, create_shadow, seed, shadow  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=bench_database_url("echopilot_bench_cpu"))
    parser.add_argument("--stored", type=int, default=100_000)
    parser.add_argument("--checks", type=int, default=3000)
    parser.add_argument("--variant", choices=("default", "signals", "shadow"), default="default")
    parser.add_argument("--reuse", action="store_true", help="keep the database as it is (no recreate, no seed)")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    extra = {"GUARD_MAX_PER_HOUR": "5", **(SIGNALS_ON if args.variant != "default" else {})}
    env = bench_env(args.database_url, **extra)
    if not args.reuse:
        recreate_postgres_database(args.database_url)
        manage(env, "migrate", "--noinput")
        seed(env, args.stored)
    os.environ.update(env)
    import django

    django.setup()
    from django.test import Client

    from fraud import rulesets

    if args.variant == "shadow":
        shadow(create_shadow(), True)
    rulesets.live_forget()

    client = Client(headers={"X-Dash-Key": "bench-key"}, SERVER_NAME="127.0.0.1")
    rng = random.Random(7)

    def body():
        data = {
            "email": f"customer{rng.randrange(20_000)}@example.com",
            "amount": f"{rng.randrange(500, 20_000) / 100:.2f}",
            "card_type": "credit",
            "card_fingerprint": f"fp{rng.randrange(40_000)}",
        }
        if args.variant != "default":
            data["ip"] = f"10.0.{rng.randrange(256)}.{rng.randrange(256)}"
        return data

    from django.db import connection

    def backend_cpu() -> float:
        """CPU seconds of this connection's PostgreSQL backend so far (/proc: the server runs on this machine)."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def run(path: str, count: int) -> tuple[float, float, float]:
        server, cpu, wall = backend_cpu(), time.process_time(), time.perf_counter()
        for _ in range(count):
            response = client.post(path, body(), content_type="application/json")
            assert response.status_code == 200, response.content
        return time.process_time() - cpu, time.perf_counter() - wall, backend_cpu() - server

    run("/api/fraud/check", 200)  # warm-up: imports, prepared statement, caches
    run("/api/bench/baseline", 200)
    totals = {"check": [0.0, 0.0, 0.0], "baseline": [0.0, 0.0, 0.0]}
    block = 250
    for _ in range(max(1, args.checks // block)):
        for name, path in (("check", "/api/fraud/check"), ("baseline", "/api/bench/baseline")):
            for index, value in enumerate(run(path, block)):
                totals[name][index] += value
    count = max(1, args.checks // block) * block
    print(f"variant {args.variant}, {count} requests each, one process, PostgreSQL")
    for name, (cpu, wall, server) in totals.items():
        print(
            f"{name:<9} CPU {cpu / count * 1e6:7.0f} us/request   PostgreSQL backend CPU {server / count * 1e6:7.0f} us"
            f"   wall {wall / count * 1e6:7.0f} us/request"
        )
    check, base = totals["check"], totals["baseline"]
    print(f"check - baseline: PostgreSQL CPU {(check[2] - base[2]) / count * 1e6:.0f} us")
    print(
        f"check - baseline: CPU {(check[0] - base[0]) / count * 1e6:.0f} us, wall {(check[1] - base[1]) / count * 1e6:.0f} us"
    )
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        run("/api/fraud/check", 1000)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)


if __name__ == "__main__":
    main()
