"""Benchmark: a labelled backtest of 1,000,000 stored checks on PostgreSQL, against the unlabelled replay.

Seeds ``--checks`` checks over 120 days with their payments (some disputed, some
refunded as fraudulent, some failed), blocked checks without a payment, and a
review for one check in a hundred, each table with one ``INSERT ... SELECT
generate_series`` (the ORM would take many minutes on 2 cores). Then, in the
same process and alternating:

- baseline: the replay before labels (``fraud/backtest.py`` at ``--baseline``,
  loaded from git): one rule set, no labels;
- ours: ``fraud_backtest`` as it is, replaying the current settings and a
  stricter proposal in one pass and reading the labels with the rows.

    .venv/bin/python bench/backtest.py [--checks 1000000] [--rounds 1] [--baseline 3a4208a]
"""

import argparse
import json
import os
import subprocess
import sys
import time
import types
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BASE_DIR, OUT_DIR, bench_database_url, bench_env, machine, manage, recreate_postgres_database  # noqa: E402

DAYS = 120

SEED_SQL = """
INSERT INTO payments_payment (provider_id, email, amount, currency, status, card_type, card_fingerprint,
    failure_code, failure_message, refund_reason, disputed_at, dispute_reason, receipt_owed, created_at, updated_at)
SELECT 'pi_bench_' || g,
       'customer' || (g % 20000) || '@example.com',
       ((g * 7919) % 49500 + 500) / 100.0,
       'usd',
       CASE WHEN g % 97 = 0 THEN 'failed' WHEN g % 89 = 0 THEN 'refunded' ELSE 'succeeded' END,
       'credit',
       'fp' || (g % 40000),
       '', '',
       CASE WHEN g % 89 = 0 THEN (CASE WHEN g % 2 = 0 THEN 'fraudulent' ELSE 'requested_by_customer' END) ELSE '' END,
       CASE WHEN g % 211 = 0 THEN START + (g * STEP) * interval '1 second' + interval '9 days' END,
       CASE WHEN g % 211 = 0 THEN 'fraudulent' ELSE '' END,
       false,
       START + (g * STEP) * interval '1 second',
       START + (g * STEP) * interval '1 second'
FROM generate_series(1::bigint, COUNT) AS g
WHERE g % 50 <> 0;

INSERT INTO fraud_fraudcheck (check_id, email, email_key, amount, currency, card_type, card_fingerprint, card_key,
    payment_ref, payment_id, decision, reason, rule, observed, "limit", ruleset_version, created_by, created_at)
SELECT 'fc_' || lpad(to_hex(g), 20, '0'),
       'customer' || (g % 20000) || '@example.com',
       'customer' || (g % 20000) || '@example.com',
       ((g * 7919) % 49500 + 500) / 100.0,
       'usd',
       'credit',
       'fp' || (g % 40000),
       'card:fp' || (g % 40000),
       CASE WHEN g % 50 <> 0 THEN 'pi_bench_' || g ELSE '' END,
       p.id,
       CASE WHEN g % 50 = 0 THEN 'block' ELSE 'allow' END,
       CASE WHEN g % 50 = 0 THEN 'velocity_exceeded_5_per_hour' ELSE 'all_checks_passed' END,
       CASE WHEN g % 50 = 0 THEN 'velocity' ELSE 'default' END,
       '{}', '', 'v1-bench', '',
       START + (g * STEP) * interval '1 second'
FROM generate_series(1::bigint, COUNT) AS g
LEFT JOIN payments_payment p ON p.provider_id = 'pi_bench_' || g;

INSERT INTO fraud_fraudreview (fraud_check_id, state, opened_reason, opened_by, opened_at, resolution, note,
    closed_by, closed_at, claimed_by)
SELECT c.id,
       CASE WHEN c.id % 3 = 0 THEN 'rejected' WHEN c.id % 3 = 1 THEN 'approved' ELSE 'open' END,
       'manual', 'bench', c.created_at,
       CASE WHEN c.id % 3 = 0 THEN (CASE WHEN c.id % 2 = 0 THEN 'fraud' ELSE 'other' END) ELSE '' END,
       '', '', NULL, ''
FROM fraud_fraudcheck c
WHERE c.id % 100 = 1;

ANALYZE payments_payment;
ANALYZE fraud_fraudcheck;
ANALYZE fraud_fraudreview;
"""


def seed(count: int) -> float:
    from django.db import connection
    from django.utils import timezone

    start = timezone.now() - timedelta(days=DAYS)
    sql = (
        SEED_SQL.replace("START", f"'{start.isoformat()}'::timestamptz")
        .replace("STEP", f"{DAYS * 86400 / count:.6f}")
        .replace("COUNT", str(int(count)))
    )
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(sql)  # no parameters: the % in it are SQL's modulo
    return time.perf_counter() - started


def baseline_module(ref: str) -> types.ModuleType:
    """``fraud/backtest.py`` as it was at ``ref``: the replay without labels."""
    source = subprocess.run(
        ["git", "show", f"{ref}:fraud/backtest.py"], cwd=BASE_DIR, check=True, capture_output=True, text=True
    ).stdout
    module = types.ModuleType("baseline_backtest")
    exec(compile(source, f"{ref}:fraud/backtest.py", "exec"), module.__dict__)  # noqa: S102 - our own history
    return module


def timed(run) -> tuple[float, object]:
    started = time.perf_counter()
    report = run()
    return time.perf_counter() - started, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=bench_database_url("echopilot_bench_backtest"))
    parser.add_argument("--checks", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--baseline", default="3a4208a", help="commit whose fraud/backtest.py is the baseline")
    args = parser.parse_args()

    env = bench_env(args.database_url)
    recreate_postgres_database(args.database_url)
    manage(env, "migrate", "--noinput")
    os.environ.update(env)
    import django

    django.setup()
    from django.utils import timezone

    from fraud.backtest import fraud_backtest
    from fraud.models import FraudCheck
    from fraud.rules import RuleConfig

    seeding = seed(args.checks)
    stored = FraudCheck.objects.count()
    since = timezone.now() - timedelta(days=DAYS + 1)
    current = RuleConfig.from_settings()
    proposed = RuleConfig.from_settings(max_per_hour=3, review_amount=Decimal("300"))
    old = baseline_module(args.baseline)
    baseline_s, ours_s = [], []
    for _ in range(args.rounds):
        seconds, base_report = timed(lambda: old.fraud_backtest(since=since, config=proposed))
        baseline_s.append(seconds)
        seconds, report = timed(lambda: fraud_backtest(since=since, config=proposed, current=current))
        ours_s.append(seconds)
    assert report.total == base_report.total == stored and report.table == base_report.table

    result = {
        "machine": machine(),
        "database": "PostgreSQL",
        "checks": stored,
        "seeding_s": seeding,
        "baseline_ref": args.baseline,
        "baseline_s": min(baseline_s),
        "ours_s": min(ours_s),
        "ratio": min(ours_s) / min(baseline_s),
        "labels": {str(key): value for key, value in report.labels.items()},
        "current": report.current.as_dict(),
        "proposed": report.proposed.as_dict(),
    }
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "backtest.json").write_text(json.dumps(result, indent=2))
    print(
        f"Backtest of {stored:,} checks on PostgreSQL (seeded in {seeding:.0f} s): labelled, current + proposed "
        f"{result['ours_s']:.1f} s; unlabelled baseline ({args.baseline}) {result['baseline_s']:.1f} s; "
        f"ratio {result['ratio']:.2f}; labels {result['labels']}"
    )


if __name__ == "__main__":
    main()
