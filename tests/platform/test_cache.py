"""The embedded (no Redis) cache keeps the counters that rate limits and health rely on."""

import multiprocessing
import time

import pytest
from django.conf import settings

from echopilot.cache import FileCache


def make_cache(directory, **options):
    return FileCache(str(directory), {"KEY_PREFIX": "test", "OPTIONS": options})


def count_many(directory, times):
    cache = make_cache(directory)
    for _ in range(times):
        cache.add("hits", 0, timeout=3600)
        cache.incr("hits")


@pytest.mark.skipif(bool(settings.REDIS_URL), reason="with REDIS_URL the cache is Redis")
def test_it_is_the_cache_without_redis():
    assert settings.CACHES["default"]["BACKEND"] == "echopilot.cache.FileCache"


@pytest.mark.slow
def test_counting_from_several_processes_at_once_loses_no_count(tmp_path):
    processes = [multiprocessing.Process(target=count_many, args=(tmp_path, 150)) for _ in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0, 0, 0, 0]
    assert make_cache(tmp_path).get("hits") == 600


@pytest.mark.slow
def test_a_count_keeps_its_expiry(tmp_path):
    cache = FileCache(str(tmp_path), {"TIMEOUT": 1})  # the default timeout must not replace the counter's own
    cache.add("hour", 0, timeout=3600)
    cache.add("forever", 0, timeout=None)
    cache.add("brief", 0, timeout=1)
    for key in ("hour", "forever", "brief"):
        cache.incr(key)
    time.sleep(1.2)
    assert (cache.get("hour"), cache.get("forever"), cache.get("brief")) == (1, 1, None)


def test_counting_a_missing_or_expired_key_is_an_error_as_in_django(tmp_path):
    cache = make_cache(tmp_path)
    cache.set("gone", 5, timeout=-1)
    for key in ("never-set", "gone"):
        with pytest.raises(ValueError):
            cache.incr(key)


def test_culling_drops_expired_entries_before_live_counters(tmp_path):
    cache = make_cache(tmp_path, MAX_ENTRIES=20)
    for n in range(5):
        cache.add(f"counter{n}", 0, timeout=3600)
        cache.incr(f"counter{n}")
    for n in range(60):  # expired entries, enough to make the cache cull several times
        cache.set(f"old{n}", n, timeout=-1)
    assert [cache.get(f"counter{n}") for n in range(5)] == [1] * 5
