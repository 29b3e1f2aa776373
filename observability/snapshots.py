"""Snapshots: the machine, the API, the scheduler and the business measured at one moment.

Taken and stored by the hourly task and the command (CPU over one real second), by
``POST /api/observability/snapshot`` and once when ``manage.py serve`` starts (CPU since
the previous reading in the process, primed at its start). ``snapshot_measure`` alone
stores nothing: the GET answers with it while no snapshot is stored yet.
"""

import os
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from echopilot.audit import audit_event, audit_failure_count, utc_iso, write_latest
from echopilot.health import check_cache
from observability import rules, selectors, system
from observability.models import Alert, Snapshot

START_WAIT_SECONDS = 60  # how long the start-up snapshot waits for the API to be ready before it says it is not


def _thresholds() -> rules.Thresholds:
    return rules.Thresholds(
        cpu_percent=settings.OBS_CPU_WARN_PERCENT,
        mem_percent=settings.OBS_MEM_WARN_PERCENT,
        disk_percent=settings.OBS_DISK_WARN_PERCENT,
        heartbeat_max_age=settings.OBS_HEARTBEAT_MAX_AGE,
    )


def snapshot_measure(*, blocking_cpu: bool, now: datetime | None = None) -> Snapshot:
    """Measure everything; the ``Snapshot`` is returned unsaved and nothing is written anywhere.

    ``blocking_cpu`` (tasks, the command): CPU sampled over one real second. Otherwise
    (requests, the start of ``serve``): since the process's previous reading, waiting a
    quarter of a second at most. With the cache unreachable the snapshot is taken
    without it and warns.
    """
    now = now or timezone.now()
    cache_problem = check_cache()
    cpu = system.cpu_percent_blocking() if blocking_cpu else system.cpu_percent_since_previous()
    api = system.api_probe()
    scheduler = selectors.scheduler_state(now=now)
    firing = selectors.firing_alerts()
    kpis = rules.governance(selectors.governance_kpis(now=now), margin=settings.KPI_AT_RISK_MARGIN)
    audit_failures = audit_failure_count()
    weekly = {} if cache_problem else selectors.audit_week_latest() or {}
    sys_block = {
        "cpu_percent": cpu,
        "cpu_sampled": True,  # since CPU figures are never missing; kept for the clients that read it
        "load_avg": [round(value, 2) for value in os.getloadavg()],
        **system.memory(),
        **system.disks(),
    }
    warnings = rules.ops_warnings(
        cpu_percent=cpu,
        mem_percent=sys_block["mem_percent"],
        disk_percent=sys_block["disk_percent"],
        heartbeat_age_sec=scheduler["heartbeat_age_sec"],
        api_healthy=api["healthy"],
        api_url=api["url"],
        api_error=api["error"],
        audit_write_failures=audit_failures,
        firing_alerts=[alert.name for alert in firing],
        governance_failing=kpis["failing"],
        audit_discrepancies=weekly.get("discrepancies", 0),
        cache_problem=cache_problem,
        limits=_thresholds(),
    )
    data = {
        "ts": int(now.timestamp()),
        "ts_iso": utc_iso(now),
        "node": settings.NODE_NAME,
        "system": sys_block,
        "process": system.process(),
        "api": api,
        "db": {"latency_sec": system.database_latency()},
        "scheduler": scheduler,
        "audit": {"write_failures": audit_failures, "weekly_discrepancies": weekly.get("discrepancies")},
        "governance": kpis,
        "health": {
            "governance_status": kpis["status"],
            "ops_warnings": warnings,
            "overall": rules.overall(
                warnings=warnings,
                api_healthy=api["healthy"],
                critical_firing=any(alert.severity == Alert.Severity.CRITICAL for alert in firing),
                governance_status=kpis["status"],
            ),
        },
    }
    return Snapshot(taken_at=now, data=data)


def snapshot_take(*, blocking_cpu: bool, now: datetime | None = None) -> Snapshot:
    """Measure everything, store the ``Snapshot`` and write it to the audit log (``snapshot_measure`` for the CPU)."""
    snapshot = snapshot_measure(blocking_cpu=blocking_cpu, now=now)
    snapshot.save()
    data = snapshot.data
    audit_event("observability", "snapshot", **{key: value for key, value in data.items() if key != "ts"})
    write_latest("observability", data)
    return snapshot


def snapshot_take_at_start_receive(sender, **kwargs) -> None:
    """``echopilot.signals.service_started``, sent once by ``manage.py serve`` after it started its web nodes."""
    snapshot_take_at_start()


def snapshot_take_at_start(*, wait_seconds: float = START_WAIT_SECONDS) -> Snapshot:
    """The first snapshot of a start: ``manage.py serve`` announces its start once (``service_started``).

    It waits until the API probe finds the API ready (or ``wait_seconds`` passed: then the
    snapshot says so), so the probe measures the service as started rather than still
    starting. The CPU figure covers the time since this process started.
    """
    system.api_ready_wait(timeout=wait_seconds)
    return snapshot_take(blocking_cpu=False)
