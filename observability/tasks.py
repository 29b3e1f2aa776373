"""Task entry points of observability (django-q2 calls these by dotted path).

Their names are the ones the schedule registry (echopilot/schedules.py), stored
``Schedule`` rows and tasks already in the queue hold, so they stay as they are.
"""

from observability import alerts, housekeeping, reports, snapshots


def snapshot() -> str:
    data = snapshots.snapshot_take(blocking_cpu=True).data
    return f"snapshot: {data['health']['overall']}, {len(data['health']['ops_warnings'])} warnings"


def alerts_evaluate() -> str:
    return alerts.alerts_evaluate().summary()


def daily_report() -> str:
    return reports.daily_report_send()


def weekly_audit() -> str:
    result = housekeeping.audit_week_run()
    return f"weekly audit: {result['discrepancies']} discrepancies"


def self_heal() -> str:
    return f"self-heal: {housekeeping.self_heal_run()}"


def retention() -> str:
    return f"retention: {housekeeping.retention_apply()}"
