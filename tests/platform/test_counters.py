"""Counters in the database: exact under parallel threads and processes, on SQLite and PostgreSQL."""

import multiprocessing
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections

from echopilot.counters import counter_get, counter_incr, counters_prune, rate_limit_hit
from echopilot.models import Counter

NOW = datetime(2026, 3, 4, 10, 59, 30, tzinfo=UTC)


def hit(key="ann@example.com", *, scope="test", limit=3, now=NOW):
    return rate_limit_hit(scope=scope, key=key, limit=limit, window_seconds=3600, now=now)


@pytest.mark.django_db
def test_a_counter_starts_at_one_and_reads_zero_before():
    assert counter_get(name="c") == 0
    assert [counter_incr(name="c") for _ in range(3)] == [1, 2, 3]
    assert counter_get(name="c") == 3


@pytest.mark.django_db
def test_it_allows_the_limit_per_window_then_answers_the_seconds_to_its_end():
    assert [hit() for _ in range(4)] == [None, None, None, 30]
    assert hit(now=NOW + timedelta(seconds=29)) == 1
    assert hit(now=NOW + timedelta(seconds=30)) is None  # 11:00:00, a new window


@pytest.mark.django_db
def test_keys_and_scopes_are_counted_apart():
    for _ in range(3):
        hit()
    assert hit() == 30
    assert hit("bob@example.com") is None
    assert hit(scope="other") is None


@pytest.mark.django_db
def test_the_key_is_stored_only_as_a_keyed_hash():
    hit("Ann@Example.com")
    [row] = Counter.objects.all()
    assert "ann" not in row.name.lower() and "example" not in row.name.lower()
    assert row.expires_at == datetime(2026, 3, 4, 11, tzinfo=UTC)


@pytest.mark.django_db
def test_pruning_deletes_only_ended_windows_and_never_plain_counters():
    hit()
    hit(now=NOW + timedelta(hours=1))
    counter_incr(name="plain")
    assert counters_prune(now=NOW + timedelta(seconds=30), batch=1) == 1
    assert counters_prune(now=NOW + timedelta(days=30)) == 1
    assert list(Counter.objects.values_list("name", flat=True)) == ["plain"]


def _hit_many(results, barrier, times, limit):
    try:
        barrier.wait()
        for _ in range(times):
            results.append(hit("shared@example.com", limit=limit))
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_parallel_threads_on_one_key_get_exactly_the_limit():
    threads, times, limit = 8, 10, 25
    results = []
    barrier = threading.Barrier(threads)
    workers = [threading.Thread(target=_hit_many, args=(results, barrier, times, limit)) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(results) == threads * times
    assert results.count(None) == limit
    assert Counter.objects.get().value == threads * times


def _count_in_process(barrier, times):
    barrier.wait()
    for _ in range(times):
        counter_incr(name="shared")
    connection.close()


@pytest.mark.django_db(transaction=True)
def test_parallel_processes_lose_no_count():
    processes, times = 4, 50
    connections.close_all()  # each child opens its own connection
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(processes)
    children = [context.Process(target=_count_in_process, args=(barrier, times)) for _ in range(processes)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
    assert [child.exitcode for child in children] == [0] * processes
    assert counter_get(name="shared") == processes * times
