"""Parallel writers wait for each other instead of failing with "database is locked"."""

import threading

import pytest
from django.db import connection, transaction

from echopilot.models import Heartbeat

THREADS = 8
TRANSACTIONS = 25


@pytest.mark.django_db(transaction=True)
def test_parallel_read_then_write_transactions_all_commit():
    """Each transaction reads, then writes: the pattern that fails on SQLite's default
    deferred transactions, because two readers cannot both upgrade to writers."""
    errors = []
    start = threading.Barrier(THREADS)

    def work(worker):
        try:
            start.wait()
            for _ in range(TRANSACTIONS):
                with transaction.atomic():
                    seen = Heartbeat.objects.filter(node=f"w{worker}").count()
                    Heartbeat.objects.create(node=f"w{worker}", pid=seen + 1)
        except Exception as exc:  # collected and asserted below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Heartbeat.objects.count() == THREADS * TRANSACTIONS
    # Each worker's reads saw its own previous writes: pids run 1..TRANSACTIONS.
    for worker in range(THREADS):
        pids = sorted(Heartbeat.objects.filter(node=f"w{worker}").values_list("pid", flat=True))
        assert pids == list(range(1, TRANSACTIONS + 1))


def test_sqlite_is_configured_for_concurrent_writers(settings):
    if not settings.DB_IS_SQLITE:
        pytest.skip("SQLite only")
    options = settings.DATABASES["default"]["OPTIONS"]
    assert options["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in options["init_command"]
    assert options["timeout"] >= 5


@pytest.mark.django_db
def test_sqlite_connections_run_in_wal_mode(settings):
    if not settings.DB_IS_SQLITE:
        pytest.skip("SQLite only")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] >= 5000
