"""Benchmark: POST /api/fraud/check against a baseline, under gunicorn on PostgreSQL.

Baseline: an endpoint that does only the authentication, the same input
validation and one insert (bench/urls.py). Both run in the same gunicorn on
the same database holding ~100,000 stored checks, alternating, so the ratio
is the claim and the absolute numbers are this machine's. Every request of
every endpoint carries the same kind of body, an ``ip`` included (until
2026-11-29 only the signals' turns sent one, so they alone paid for reading
and storing it).

The same run also measures the check with every card-testing signal on (issue
#15: cards per email, emails per card, declines per card, checks per IP, each
with a generous limit): a second gunicorn with
those settings on the same database, loaded in the same alternation, against
the same baseline; and that check again with a stored rule set running in
shadow (``SHADOW_RULES``: every check also decides by it and stores its
decision), started just before its turn and stopped after it, so the other
turns run without one.

    .venv/bin/python bench/fraud_check.py [--seconds 10] [--rounds 4] [--concurrency 8] [--stored 100000]
"""

import argparse
import http.client
import json
import os
import random
import sys
import threading
import time
from datetime import timedelta
from decimal import Decimal
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


def seed(env: dict, count: int) -> None:
    os.environ.update(env)
    import django

    django.setup()
    from django.utils import timezone

    from fraud.models import FraudCheck

    rng = random.Random(1)
    now = timezone.now()
    batch = []
    for _ in range(count):
        email = f"customer{rng.randrange(20_000)}@example.com"
        fingerprint = f"fp{rng.randrange(40_000)}"
        batch.append(
            FraudCheck(
                email=email,
                amount=Decimal(rng.randrange(500, 50_000)) / 100,
                currency="usd",
                card_type="credit",
                card_fingerprint=fingerprint,
                card_key=f"card:{fingerprint}",
                email_key=email,
                ip=f"10.0.{rng.randrange(256)}.{rng.randrange(256)}",
                decision="allow",
                reason="all_checks_passed",
                rule="default",
                ruleset_version="seed",
                created_at=now - timedelta(seconds=rng.randrange(30 * 86400)),
            )
        )
        if len(batch) == 5000:
            FraudCheck.objects.bulk_create(batch)
            batch = []
    FraudCheck.objects.bulk_create(batch)


def post(port: int, path: str, body: dict) -> tuple[int, dict, float]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json", "X-Dash-Key": "bench-key"})
    response = conn.getresponse()
    data = json.loads(response.read())
    conn.close()
    return response.status, data, time.perf_counter() - started


# Generous limits: the signals count on every check, and rarely decide (the load's random customers are no testers).
SIGNALS_ON = {
    "GUARD_MAX_CARDS_PER_EMAIL_DAY": "20",
    "GUARD_MAX_EMAILS_PER_CARD_DAY": "20",
    "GUARD_MAX_DECLINES_PER_CARD_HOUR": "20",
    "GUARD_MAX_PER_IP_HOUR": "1000",
}


# The rule set run in shadow (issue #15: "every new signal on and a shadow version active"): a stored draft with
# every signal on, a little stricter than the live settings, so it sometimes disagrees and its decision is stored.
SHADOW_RULES = {
    "max_per_hour": 4,
    "max_cards_per_email_day": 10,
    "max_emails_per_card_day": 10,
    "max_declines_per_card_hour": 10,
    "max_per_ip_hour": 500,
}


def create_shadow():
    """Draft the shadow version in the bench database (this process is set up on it by ``seed``)."""
    from fraud.rulesets import ruleset_draft

    return ruleset_draft(note="bench: every signal on, in shadow", by="bench", **SHADOW_RULES)


def shadow(ruleset, on: bool) -> None:
    """Start or stop its shadow run: every node sees it at its next check (the counting query reads it)."""
    from fraud.rulesets import ruleset_shadow_start, ruleset_shadow_stop

    (ruleset_shadow_start if on else ruleset_shadow_stop)(ruleset=ruleset, by="bench")


def shadow_decisions(ruleset) -> dict:
    """How many checks carry the shadow's decision, and how many it would have decided differently."""
    from django.db.models import F

    from fraud.models import FraudCheck

    checks = FraudCheck.objects.filter(shadow_version=ruleset.label)
    return {"checks": checks.count(), "differ": checks.exclude(decision=F("shadow_decision")).count()}


def load(port: int, path: str, seconds: float, concurrency: int, seed_value: int) -> dict:
    """Random customers' checks for ``seconds``; every body carries an ``ip``, the baseline's too (the same input)."""
    latencies, errors = [], 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(index: int):
        nonlocal errors
        rng = random.Random(seed_value * 1000 + index)
        while time.monotonic() < stop:
            body = {
                "email": f"customer{rng.randrange(20_000)}@example.com",
                "amount": f"{rng.randrange(500, 20_000) / 100:.2f}",
                "card_type": "credit",
                "card_fingerprint": f"fp{rng.randrange(40_000)}",
                "ip": f"10.0.{rng.randrange(256)}.{rng.randrange(256)}",
            }
            status, _, elapsed = post(port, path, body)
            with lock:
                latencies.append(elapsed)
                errors += status != 200

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    return {"requests": len(latencies), "errors": errors, "rps": len(latencies) / wall, **percentiles(latencies)}


def burst(port: int, same_card: bool, round_no: int) -> tuple[float, int]:
    """50 simultaneous checks; returns the time until all are answered and the number allowed."""
    barrier = threading.Barrier(50)
    results = [None] * 50

    def worker(index: int):
        fingerprint = f"burst-{round_no}-{'same' if same_card else index}-{same_card}"
        body = {"email": f"burst{round_no}-{index}@example.com", "amount": "10.00", "card_fingerprint": fingerprint}
        barrier.wait()
        results[index] = post(port, "/api/fraud/check", body)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(50)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return elapsed, sum(1 for _, data, _ in results if data.get("decision") == "allow")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=bench_database_url("echopilot_bench"))
    parser.add_argument("--stored", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=4, help="alternations of every variant (more: less noise)")
    args = parser.parse_args()

    env = bench_env(args.database_url, GUARD_MAX_PER_HOUR="5")
    recreate_postgres_database(args.database_url)
    manage(env, "migrate", "--noinput")
    seed(env, args.stored)
    port, signals_port = free_port(), free_port()
    server = start_gunicorn(env, port, args.workers)
    signals_server = start_gunicorn({**env, **SIGNALS_ON}, signals_port, args.workers)
    try:
        load(port, "/api/fraud/check", 2, args.concurrency, 0)  # warm-up
        load(signals_port, "/api/fraud/check", 2, args.concurrency, 1)
        draft = create_shadow()

        def with_shadow(n):
            shadow(draft, True)
            try:
                return load(signals_port, "/api/fraud/check", args.seconds, args.concurrency, 40 + n)
            finally:
                shadow(draft, False)

        runs = {"baseline": [], "fraud_check": [], "fraud_check_signals": [], "fraud_check_shadow": []}
        measure = {
            "fraud_check": lambda n: load(port, "/api/fraud/check", args.seconds, args.concurrency, 20 + n),
            "fraud_check_signals": lambda n: load(
                signals_port, "/api/fraud/check", args.seconds, args.concurrency, 30 + n
            ),
            "fraud_check_shadow": with_shadow,
        }
        # Alternate, so drift affects all alike; the two checks swap places each round, as the run right after
        # the baseline's inserts was measured up to 0.1 slower than the one after it.
        for round_no in range(args.rounds):
            runs["baseline"].append(load(port, "/api/bench/baseline", args.seconds, args.concurrency, 10 + round_no))
            for name in sorted(measure, reverse=bool(round_no % 2)):
                runs[name].append(measure[name](round_no))
        bursts = {"same_card": [], "distinct_cards": [], "same_card_signals": [], "same_card_shadow": []}
        for round_no in range(5):
            bursts["same_card"].append(burst(port, True, round_no))
            bursts["distinct_cards"].append(burst(port, False, round_no))
            bursts["same_card_signals"].append(burst(signals_port, True, 100 + round_no))
        shadow(draft, True)
        for round_no in range(5):
            bursts["same_card_shadow"].append(burst(signals_port, True, 200 + round_no))
        shadow(draft, False)
        shadowed = shadow_decisions(draft)
    finally:
        for process in (server, signals_server):
            process.terminate()
            process.wait()

    def merge(results):
        return {
            "rps": sum(r["rps"] for r in results) / len(results),
            "p50": sum(r["p50"] for r in results) / len(results),
            "p95": sum(r["p95"] for r in results) / len(results),
            "p99": sum(r["p99"] for r in results) / len(results),
            "errors": sum(r["errors"] for r in results),
            "requests": sum(r["requests"] for r in results),
        }

    base, fraud, signals = merge(runs["baseline"]), merge(runs["fraud_check"]), merge(runs["fraud_check_signals"])
    with_shadow_row = merge(runs["fraud_check_shadow"])
    same = sorted(t for t, _ in bursts["same_card"])[2]
    distinct = sorted(t for t, _ in bursts["distinct_cards"])[2]
    result = {
        "machine": machine(),
        "database": "PostgreSQL",
        "stored_checks": args.stored,
        "concurrency": args.concurrency,
        "gunicorn_workers": args.workers,
        "baseline": base,
        "fraud_check": fraud,
        "throughput_ratio": fraud["rps"] / base["rps"],
        "fraud_check_signals": signals,
        "signals_throughput_ratio": signals["rps"] / base["rps"],
        "signals": SIGNALS_ON,
        "fraud_check_shadow": with_shadow_row,
        "shadow_throughput_ratio": with_shadow_row["rps"] / base["rps"],
        "shadow_rules": SHADOW_RULES,
        "shadow_decisions": shadowed,
        "burst_same_card_allows_shadow": [allowed for _, allowed in bursts["same_card_shadow"]],
        "load_average": os.getloadavg(),
        "runs": {name: [round(r["rps"], 1) for r in results] for name, results in runs.items()},
        "burst_same_card_s": same,
        "burst_distinct_cards_s": distinct,
        "burst_ratio": same / distinct,
        "burst_same_card_allows": [allowed for _, allowed in bursts["same_card"]],
        "burst_same_card_allows_signals": [allowed for _, allowed in bursts["same_card_signals"]],
    }
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "fraud_check.json").write_text(json.dumps(result, indent=2))
    m = result["machine"]
    print(
        f"Fraud check benchmark — {m['cores']} cores, {m['memory_gb']} GiB, PostgreSQL, {args.stored:,} stored checks, "
        f"{args.workers} gunicorn workers, {args.concurrency} concurrent clients"
    )
    print(f"{'endpoint':<14}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for name, row in (("baseline", base), ("fraud_check", fraud), ("+signals", signals), ("+shadow", with_shadow_row)):
        print(
            f"{name:<14}{row['rps']:>9.1f}{row['p50'] * 1000:>9.1f}{row['p95'] * 1000:>9.1f}{row['p99'] * 1000:>9.1f}{row['errors']:>8}"
        )
    print(f"throughput ratio fraud_check / baseline: {result['throughput_ratio']:.2f} (goal >= 0.70)")
    print(
        f"throughput ratio fraud_check with every signal on / baseline: {result['signals_throughput_ratio']:.2f} "
        f"(goal >= 0.75); allows per one-card burst with them: {result['burst_same_card_allows_signals']}"
    )
    print(
        f"throughput ratio fraud_check with every signal on and a version in shadow / baseline: "
        f"{result['shadow_throughput_ratio']:.2f} (goal >= 0.75); allows per one-card burst with them: "
        f"{result['burst_same_card_allows_shadow']}; checks carrying the shadow's decision: {shadowed}"
    )
    print(f"load average at the end (1, 5, 15 min): {', '.join(f'{v:.1f}' for v in result['load_average'])}")
    print(
        f"50 simultaneous checks: one card {same * 1000:.0f} ms, distinct cards {distinct * 1000:.0f} ms, "
        f"ratio {result['burst_ratio']:.2f}; allows per one-card burst: {result['burst_same_card_allows']}"
    )


if __name__ == "__main__":
    main()
