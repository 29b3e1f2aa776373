"""Snapshots: the machine, the API, the scheduler and the business measured at one moment, stored and audited."""

import os
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from echopilot.audit import audit_event, audit_failure_count, utc_iso, write_latest
from echopilot.health import check_cache
from observability import rules, selectors, system
from observability.models import Alert, Snapshot


def _thresholds() -> rules.Thresholds:
    return rules.Thresholds(
        cpu_percent=settings.OBS_CPU_WARN_PERCENT,
        mem_percent=settings.OBS_MEM_WARN_PERCENT,
        disk_percent=settings.OBS_DISK_WARN_PERCENT,
        heartbeat_max_age=settings.OBS_HEARTBEAT_MAX_AGE,
    )


def snapshot_take(*, blocking_cpu: bool, now: datetime | None = None) -> Snapshot:
    """Measure everything, store a ``Snapshot`` and write it to the audit log.

    ``blocking_cpu`` (tasks, the command): CPU sampled over one real second.
    Otherwise (requests): from the previous sample in the shared cache, or null.
    With the cache unreachable the snapshot is taken without it and warns.
    """
    now = now or timezone.now()
    cache_problem = check_cache()
    if blocking_cpu:
        cpu = system.cpu_percent_blocking()
    else:
        cpu = None if cache_problem else system.cpu_percent_from_samples(now=now)
    api = system.api_probe()
    scheduler = selectors.scheduler_state(now=now)
    firing = selectors.firing_alerts()
    kpis = rules.governance(selectors.governance_kpis(now=now), margin=settings.KPI_AT_RISK_MARGIN)
    audit_failures = audit_failure_count()
    weekly = {} if cache_problem else selectors.audit_week_latest() or {}
    sys_block = {
        "cpu_percent": cpu,
        "cpu_sampled": cpu is not None,
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
    snapshot = Snapshot.objects.create(taken_at=now, data=data)
    audit_event("observability", "snapshot", **{key: value for key, value in data.items() if key != "ts"})
    write_latest("observability", data)
    return snapshot
