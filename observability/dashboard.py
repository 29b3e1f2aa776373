"""The dashboard's charts: selector rows laid out on a full time axis and drawn with ``svg``."""

from datetime import UTC, datetime, time, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.safestring import mark_safe

from echopilot.taskqueue import process_started_at, stall_text, task_queue_stall, task_queue_state
from observability import selectors, svg

PERIODS = {"24h": (timedelta(hours=24), False), "7d": (timedelta(days=7), True)}


def _axis(*, now: datetime, span: timedelta, per_day: bool) -> list[datetime]:
    """The buckets of the window that ends with ``now``'s hour (or day) in the display time zone, as the
    selectors' TruncHour/TruncDay give them."""
    local = timezone.localtime(now)
    if per_day:  # local midnights, also across a daylight-saving change
        days = span.days
        return [
            timezone.make_aware(datetime.combine(local.date() - timedelta(days=days - 1 - i), time()))
            for i in range(days)
        ]
    hours = int(span / timedelta(hours=1))
    end = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    return [timezone.localtime(end - timedelta(hours=hours - 1 - i)) for i in range(hours)]


def _midday(moment: datetime) -> datetime:
    return moment + timedelta(hours=12)


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
    day_axis = _axis(now=now, span=max(span, timedelta(days=7)), per_day=True)

    step = timedelta(days=1) if per_day else timedelta(hours=1)

    snapshots = list(reversed(selectors.snapshot_list(since=since, limit=24 * 7 * 4)))
    system = {
        name: [(row.taken_at, (row.data.get("system") or {}).get(key)) for row in snapshots]
        for name, key in (("cpu", "cpu_percent"), ("memory", "mem_percent"), ("disk", "disk_percent"))
    }
    revenue = selectors.revenue_by_day(since=day_axis[0], until=now)
    per = "day" if per_day else "hour"
    charts = [
        svg.line_chart(title="CPU, memory and disk (%)", start=since, end=now, series=system, unit="%", y_max=100),
        svg.stacked_bar_chart(
            title=f"Payments per {per} by status",
            buckets=axis,
            step=step,
            series=_stacked(
                selectors.payments_by_status(since=axis[0], until=now, per_day=per_day),
                axis,
                ["succeeded", "refunded", "failed", "pending"],
            ),
        ),
        # One chart per currency: amounts in different currencies share no scale (JPY would flatten USD).
        # Each day's total sits at the day's middle.
        *(
            svg.line_chart(
                title=f"Revenue per day, {currency.upper()} (succeeded)",
                start=day_axis[0],
                end=day_axis[-1] + timedelta(days=1),
                series={
                    currency.upper(): [
                        (_midday(moment), float(revenue.get(moment, {}).get(currency, 0))) for moment in day_axis
                    ]
                },
            )
            for currency in sorted({c for row in revenue.values() for c in row}) or ["usd"]
        ),
        svg.stacked_bar_chart(
            title=f"Fraud decisions per {per}",
            buckets=axis,
            step=step,
            series=_stacked(
                selectors.fraud_by_decision(since=axis[0], until=now, per_day=per_day),
                axis,
                ["allow", "review", "block"],
            ),
        ),
        svg.stacked_bar_chart(
            title=f"Emails per {per} by status",
            buckets=axis,
            step=step,
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
        "governance_text": (latest.data.get("health", {}).get("governance_status") or "").replace("_", " ")
        if latest
        else "",
        "firing": selectors.firing_alerts(),
        "pending": selectors.pending_alerts(),
        "charts": [mark_safe(chart) for chart in charts],  # noqa: S308 - svg escapes every text it draws
    }
