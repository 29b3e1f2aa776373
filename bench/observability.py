"""Benchmark: the snapshot endpoint against the original method, and the alert evaluation at two table sizes.

1. ``GET /api/observability/snapshot`` (a database read) under gunicorn, against
   the original way of answering: a blocking one-second ``psutil.cpu_percent``
   plus an HTTP probe of ``/readyz``, measured in the same run.
2. ``alerts_evaluate()`` with ``--small`` payments from ``seed_demo`` (spread over
   30 days), then again after adding payments up to ``--big`` spread over ten
   years: the table grows, the rows in the rules' time windows barely do, and the
   ratio of the two timings shows whether the cost follows the table size.

    .venv/bin/python bench/observability.py [--small 10000] [--big 200000] [--requests 300]

PostgreSQL (``BENCH_DATABASE_URL``); ``--big 1000000`` takes several minutes of seeding.
"""

import argparse
import json
import os
import statistics
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    OUT_DIR,
    bench_database_url,
    bench_env,
    free_port,
    machine,
    manage,
    percentiles,
    recreate_postgres_database,
    start_gunicorn,
)


def get(url: str, headers: dict | None = None, method: str = "GET") -> float:
    started = time.perf_counter()
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
    return time.perf_counter() - started


def original_method(base: str) -> float:
    """The original snapshot: a blocking one-second CPU sample, then an HTTP probe."""
    import psutil

    started = time.perf_counter()
    psutil.cpu_percent(interval=1)
    get(base + "/readyz")
    return time.perf_counter() - started


def time_evaluation(runs: int) -> dict:
    from observability.alerts import alerts_evaluate

    alerts_evaluate()  # warm-up
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        alerts_evaluate()
        samples.append(time.perf_counter() - started)
    return {"median_ms": statistics.median(samples) * 1000, "max_ms": max(samples) * 1000}


def window_rows() -> int:
    from datetime import timedelta

    from django.utils import timezone

    from payments.models import Payment

    return Payment.objects.filter(created_at__gte=timezone.now() - timedelta(hours=48)).count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=bench_database_url("echopilot_bench"))
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--original-samples", type=int, default=3)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    env = bench_env(args.database_url)
    recreate_postgres_database(args.database_url)
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo", "--payments", str(args.small), "--days", "30", "--seed", "1")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env["PUBLIC_BASE_URL"] = base
    server = start_gunicorn(env, port, 2)
    try:
        headers = {"X-Dash-Key": "bench-key"}
        get(base + "/api/observability/snapshot", headers, "POST")  # none stored yet: take one (a GET never does)
        snapshot = [get(base + "/api/observability/snapshot", headers) for _ in range(args.requests)]
        original = [original_method(base) for _ in range(args.original_samples)]
    finally:
        server.terminate()
        server.wait()

    os.environ.update(env)
    import django

    django.setup()
    small = {"payments": args.small, "window_rows": window_rows(), **time_evaluation(args.runs)}
    started = time.perf_counter()
    manage(env, "seed_demo", "--payments", str(args.big - args.small), "--days", "3650", "--seed", "2")
    seeding = time.perf_counter() - started
    big = {"payments": args.big, "window_rows": window_rows(), **time_evaluation(args.runs)}

    result = {
        "machine": machine(),
        "database": "PostgreSQL",
        "snapshot_get": {"requests": len(snapshot), **percentiles(snapshot)},
        "original_method": {"samples": len(original), "median": statistics.median(original)},
        "alerts_small": small,
        "alerts_big": big,
        "alerts_ratio": big["median_ms"] / small["median_ms"],
        "seeding_big_s": seeding,
    }
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "observability.json").write_text(json.dumps(result, indent=2))
    m = result["machine"]
    print(f"Observability benchmark — {m['cores']} cores, {m['memory_gb']} GiB, PostgreSQL, gunicorn 2 workers")
    s = result["snapshot_get"]
    print(
        f"GET /api/observability/snapshot: p50 {s['p50'] * 1000:.1f} ms, p95 {s['p95'] * 1000:.1f} ms, "
        f"p99 {s['p99'] * 1000:.1f} ms ({s['requests']} requests)"
    )
    print(f"original method (1 s CPU sample + probe): median {result['original_method']['median'] * 1000:.0f} ms")
    for name in ("alerts_small", "alerts_big"):
        row = result[name]
        print(
            f"alert evaluation, {row['payments']:>9,} payments ({row['window_rows']:,} in the 48 h window): "
            f"median {row['median_ms']:.1f} ms, max {row['max_ms']:.1f} ms"
        )
    print(f"ratio big/small: {result['alerts_ratio']:.2f}")


if __name__ == "__main__":
    main()
