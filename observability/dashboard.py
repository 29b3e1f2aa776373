"""The dashboard's charts: selector rows laid out on a full time axis and drawn with ``svg``."""

from datetime import UTC, datetime, timedelta

from django.utils.dateparse import parse_datetime
from django.utils.safestring import mark_safe

from echopilot.taskqueue import process_started_at, stall_text, task_queue_stall, task_queue_state
from observability import selectors, svg

PERIODS = {"24h": (timedelta(hours=24), False), "7d": (timedelta(days=7), True)}


def _axis(*, now: datetime, span: timedelta, per_day: bool) -> list[datetime]:
    step = timedelta(days=1) if per_day else timedelta(hours=1)
    end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if per_day:
        end = end.replace(hour=0)
    count = int(span / step)
    return [end - step * (count - 1 - i) for i in range(count)]


def _label(moment: datetime, per_day: bool) -> str:
    return moment.strftime("%a %d" if per_day else "%H:00")


def _stacked(table: dict, axis: list[datetime], order: list[str]) -> dict[str, list[float]]:
    names = [name for name in order if any(name in row for row in table.values())]
    names += sorted({name for row in table.values() for name in row} - set(names))
    return {name: [float(table.get(moment, {}).get(name, 0)) for moment in axis] for name in names}


def _governance(snapshot: dict | None) -> dict | None:
    """The snapshot's governance KPIs laid out for the page (snapshots from before a field existed lack it)."""
    governance = (snapshot or {}).get("governance")
    if not governance:
        return None
    until = governance.get("warming_up_until")
    return {
        "warming_up_until": parse_datetime(until) if until else None,
        "kpis": [
            {
                "name": name.replace("_", " "),
                "value": kpi.get("value"),
                "bound": ("≥\u00a0" if kpi.get("direction") == "min" else "≤\u00a0") + f"{kpi.get('target'):g}%",
                "status": kpi.get("status", ""),
                "label": kpi.get("status", "").replace("_", " "),
                "note": kpi.get("note"),
            }
            for name, kpi in governance.get("kpis", {}).items()
        ],
    }


def context(*, period: str, now: datetime) -> dict:
    span, per_day = PERIODS[period]
    since = now - span
    axis = _axis(now=now, span=span, per_day=per_day)
    labels = [_label(moment, per_day) for moment in axis]
    day_axis = _axis(now=now, span=max(span, timedelta(days=7)), per_day=True)

    snapshots = list(reversed(selectors.snapshot_list(since=since, limit=24 * 7 * 4)))
    snap_labels = [row.taken_at.astimezone(UTC).strftime("%a %H:%M" if per_day else "%H:%M") for row in snapshots]
    system = {
        "cpu": [row.data["system"].get("cpu_percent") for row in snapshots],
        "memory": [row.data["system"].get("mem_percent") for row in snapshots],
        "disk": [row.data["system"].get("disk_percent") for row in snapshots],
    }
    revenue = selectors.revenue_by_day(since=day_axis[0], until=now)
    charts = [
        svg.line_chart(title="CPU, memory and disk (%)", labels=snap_labels, series=system, unit="%", y_max=100),
        svg.stacked_bar_chart(
            title=f"Payments per {'day' if per_day else 'hour'} by status",
            labels=labels,
            series=_stacked(
                selectors.payments_by_status(since=axis[0], until=now, per_day=per_day),
                axis,
                ["succeeded", "refunded", "failed", "pending"],
            ),
        ),
        # One chart per currency: amounts in different currencies share no scale (JPY would flatten USD).
        *(
            svg.line_chart(
                title=f"Revenue per day, {currency.upper()} (succeeded)",
                labels=[_label(moment, True) for moment in day_axis],
                series={currency.upper(): [float(revenue.get(moment, {}).get(currency, 0)) for moment in day_axis]},
            )
            for currency in sorted({c for row in revenue.values() for c in row}) or ["usd"]
        ),
        svg.stacked_bar_chart(
            title=f"Fraud decisions per {'day' if per_day else 'hour'}",
            labels=labels,
            series=_stacked(
                selectors.fraud_by_decision(since=axis[0], until=now, per_day=per_day),
                axis,
                ["allow", "review", "block"],
            ),
        ),
        svg.stacked_bar_chart(
            title=f"Emails per {'day' if per_day else 'hour'} by status",
            labels=labels,
            series=_stacked(
                selectors.emails_by_status(since=axis[0], until=now, per_day=per_day),
                axis,
                ["sent", "queued", "sending", "failed", "dry_run"],
            ),
        ),
    ]
    latest = selectors.snapshot_latest()
    stall = task_queue_stall(task_queue_state(now=now), started_at=process_started_at())
    return {
        "task_queue_stalled": stall_text(stall) if stall else "",
        "title": "Dashboard",
        "period": period,
        "now": now,
        "snapshot": latest.data if latest else None,
        "governance": _governance(latest.data if latest else None),
        "firing": selectors.firing_alerts(),
        "charts": [mark_safe(chart) for chart in charts],  # noqa: S308 - svg escapes every text it draws
    }
