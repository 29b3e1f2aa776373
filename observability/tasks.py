"""Task entry points of observability (django-q2 calls these by dotted path)."""

from observability import services


def snapshot() -> str:
    data = services.snapshot_take(blocking_cpu=True).data
    return f"snapshot: {data['health']['overall']}, {len(data['health']['ops_warnings'])} warnings"


def alerts_evaluate() -> str:
    return services.alerts_evaluate().summary()


def daily_report() -> str:
    return services.daily_report_send()


def weekly_audit() -> str:
    result = services.weekly_audit()
    return f"weekly audit: {result['discrepancies']} discrepancies"


def self_heal() -> str:
    return f"self-heal: {services.self_heal()}"


def retention() -> str:
    return f"retention: {services.retention()}"
