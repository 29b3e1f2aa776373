"""Measurements of the machine and the running service (psutil, cgroups, an HTTP probe)."""

import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
from django.conf import settings
from django.db import connection

from observability.rules import cpu_percent_between

GB = 1024**3
CPU_MIN_SECONDS = 0.25  # a CPU figure over less time is mostly clock-tick noise
CPU_MAX_SECONDS = 600  # over more, an average of long ago
CGROUP_LIMITS = (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))


def cpu_percent_blocking(interval: float = 1.0) -> float:
    """A real one-interval sample; only for tasks and commands, never in a request."""
    return psutil.cpu_percent(interval=interval)


_cpu_previous: tuple[float, dict] | None = None  # (time.monotonic(), cpu times) of this process's previous reading


def cpu_sampler_prime() -> None:
    """Start this process's CPU sampler: its first reading covers the time since this call.

    Called at process start (``ObservabilityConfig.ready``), so the first snapshot of a
    process needs no wait to have a meaningful CPU figure.
    """
    global _cpu_previous
    _cpu_previous = (time.monotonic(), psutil.cpu_times()._asdict())


def cpu_percent_since_previous() -> float:
    """Busy percent of all CPUs since this process's previous reading (or its start), without a long wait.

    Every reading is the start of the next one. A previous reading younger than
    ``CPU_MIN_SECONDS`` is waited out (right after a start or a reading: at most that
    long); one older than ``CPU_MAX_SECONDS`` would average over too long a time and is
    replaced by a fresh sample of ``CPU_MIN_SECONDS``. Always a number.
    """
    previous = _cpu_previous
    if previous is None or time.monotonic() - previous[0] > CPU_MAX_SECONDS:
        cpu_sampler_prime()
        previous = _cpu_previous
    time.sleep(max(0.0, previous[0] + CPU_MIN_SECONDS - time.monotonic()))
    cpu_sampler_prime()
    percent = cpu_percent_between(previous[1], _cpu_previous[1])
    return cpu_percent_blocking(CPU_MIN_SECONDS) if percent is None else percent


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


def probe_error_text(exc: Exception, *, timeout: float) -> str:
    """Why a probe got no answer, in plain words: "timed out after 2 s", "connection refused", ..."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, Exception) else exc
    if isinstance(reason, TimeoutError):
        return f"timed out after {timeout:g} s"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return "host name not found"
    return f"{type(reason).__name__}: {reason}"[:200]


def api_probe() -> dict:
    """GET PUBLIC_BASE_URL/readyz with OBS_PROBE_TIMEOUT; healthy on a 200, else ``error`` says why in plain words."""
    url = settings.PUBLIC_BASE_URL + "/readyz"
    started = time.perf_counter()
    error = None
    try:
        with urllib.request.urlopen(url, timeout=settings.OBS_PROBE_TIMEOUT) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        status, error = None, probe_error_text(exc, timeout=settings.OBS_PROBE_TIMEOUT)
    if status is not None and status != 200:
        error = f"HTTP {status}"
    return {
        "healthy": status == 200,
        "latency_sec": round(time.perf_counter() - started, 4),
        "status": status,
        "error": error,
        "url": url,
    }


def api_ready_wait(*, timeout: float, interval: float = 0.5) -> bool:
    """Wait until the API probe finds the API ready (a service that is just starting); False after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not api_probe()["healthy"]:
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def database_latency() -> float:
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return round(time.perf_counter() - started, 4)
