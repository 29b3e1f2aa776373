"""Measurements of the machine and the running service (psutil, cgroups, an HTTP probe)."""

import os
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

import psutil
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from observability.rules import cpu_percent_between

GB = 1024**3
CPU_SAMPLE_KEY = "observability:cpu_times"
CPU_SAMPLE_MAX_AGE = 600
CGROUP_LIMITS = (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))


def cpu_percent_blocking(interval: float = 1.0) -> float:
    """A real one-interval sample; only for tasks and commands, never in a request."""
    return psutil.cpu_percent(interval=interval)


def cpu_percent_from_samples(*, now: datetime) -> float | None:
    """CPU percent since the previous sample kept in the shared cache, without waiting.

    Stores this sample for the next call. Without a previous sample (or one older
    than 10 minutes) the answer is None: no meaningful figure exists yet.
    """
    times = psutil.cpu_times()._asdict()
    previous = cache.get(CPU_SAMPLE_KEY)
    cache.set(CPU_SAMPLE_KEY, {"at": now.timestamp(), "times": times}, timeout=CPU_SAMPLE_MAX_AGE)
    if not previous or not 0 < now.timestamp() - previous["at"] <= CPU_SAMPLE_MAX_AGE:
        return None
    return cpu_percent_between(previous["times"], times)


def cgroup_memory_limit() -> int | None:
    """The container's memory limit in bytes (cgroup v2 or v1), None when unlimited or absent."""
    for path in CGROUP_LIMITS:
        try:
            raw = path.read_text().strip()
        except OSError:
            continue
        if raw.isdigit() and int(raw) < 1 << 60:  # v1 reports "no limit" as a huge number
            return int(raw)
        return None
    return None


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def data_paths() -> dict[str, Path]:
    """The directories whose volumes matter: the SQLite database (or VAR_DIR) and LOG_DIR."""
    db = Path(settings.DATABASES["default"]["NAME"]).parent if settings.DB_IS_SQLITE else settings.VAR_DIR
    return {"database": _existing(Path(db)), "logs": _existing(Path(settings.LOG_DIR))}


def memory() -> dict:
    mem = psutil.virtual_memory()
    limit = cgroup_memory_limit()
    return {
        "mem_percent": round(mem.percent, 1),
        "mem_available_gb": round(mem.available / GB, 2),
        "mem_total_gb": round(mem.total / GB, 2),
        "cgroup_limit_gb": None if limit is None else round(limit / GB, 2),
    }


def disks() -> dict:
    volumes = {}
    for name, path in data_paths().items():
        usage = psutil.disk_usage(str(path))
        volumes[name] = {"path": str(path), "percent": round(usage.percent, 1), "free_gb": round(usage.free / GB, 2)}
    return {
        "disk_percent": max(volume["percent"] for volume in volumes.values()),
        "disk_free_gb": min(volume["free_gb"] for volume in volumes.values()),
        "disks": volumes,
    }


def process() -> dict:
    return {"pid": os.getpid(), "rss_mb": round(psutil.Process().memory_info().rss / 1024**2, 1)}


def api_probe() -> dict:
    """GET PUBLIC_BASE_URL/readyz with OBS_PROBE_TIMEOUT; healthy on a 200."""
    url = settings.PUBLIC_BASE_URL + "/readyz"
    started = time.perf_counter()
    error = None
    try:
        with urllib.request.urlopen(url, timeout=settings.OBS_PROBE_TIMEOUT) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as exc:
        status, error = exc.code, f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        status, error = None, f"{type(exc).__name__}: {exc}"[:200]
    return {
        "healthy": status == 200,
        "latency_sec": round(time.perf_counter() - started, 4),
        "status": status,
        "error": error,
        "url": url,
    }


def database_latency() -> float:
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return round(time.perf_counter() - started, 4)
