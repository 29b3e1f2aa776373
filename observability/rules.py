"""Pure rules: alert thresholds, the notification policy, KPIs and health. No database, no clock."""

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from functools import cache

from echopilot.audit import utc_iso
from echopilot.money import money_format

CRITICAL = "critical"
WARNING = "warning"


@dataclass(frozen=True)
class RuleResult:
    rule: str
    severity: str
    firing: bool
    observed: float | None
    threshold: float
    summary: str
    fingerprint: str = ""


def webhook_failures(*, failures: int, threshold: int) -> RuleResult:
    """Verified webhook events whose processing failed in the past 5 minutes; fires above the threshold.

    Refused deliveries (anyone can send those) and invalid events (never processable, already
    answered) are not processing failures: they cannot page anyone.
    """
    return RuleResult(
        rule="webhook_failures",
        severity=CRITICAL,
        firing=failures > threshold,
        observed=float(failures),
        threshold=float(threshold),
        summary=f"{failures} webhook events failed processing in the past 5 minutes (alert above {threshold})",
    )


def webhook_signature_failures(*, refused: int, threshold: int) -> RuleResult:
    """Webhook deliveries refused in the past 5 minutes (bad or missing signature, no secret, not JSON, not an event).

    A warning of its own: a few are internet noise; many mean someone probes the endpoint,
    or the signing secret no longer matches Stripe's and real events are being refused.
    """
    return RuleResult(
        rule="webhook_signature_failures",
        severity=WARNING,
        firing=refused > threshold,
        observed=float(refused),
        threshold=float(threshold),
        summary=f"{refused} webhook deliveries refused (signature, content type or body) in the past 5 minutes "
        f"(alert above {threshold})",
    )


def payment_error_rate(*, failed: int, finished: int, threshold_percent: float, min_payments: int) -> RuleResult:
    """Failed share of the payments finished in the past hour; silent below ``min_payments``."""
    rate = 100.0 * failed / finished if finished else None
    enough = finished >= min_payments
    if enough:
        summary = f"{rate:.1f}% of {finished} payments failed in the past hour (alert above {threshold_percent:g}%)"
    else:
        summary = f"only {finished} payments finished in the past hour (the rule needs {min_payments})"
    return RuleResult(
        rule="payment_error_rate",
        severity=CRITICAL,
        firing=enough and rate > threshold_percent,
        observed=None if rate is None else round(rate, 2),
        threshold=float(threshold_percent),
        summary=summary,
    )


def revenue_dip(*, currency: str, current: Decimal, previous: Decimal, dip_percent: float) -> RuleResult:
    """Succeeded revenue of the past 24 h against the 24 h before, per currency; fires when more than ``dip_percent`` lower."""
    change = float((current - previous) / previous * 100) if previous > 0 else None
    code = currency.upper()
    if change is None:
        summary = f"no {code} revenue in the 24 hours before; nothing to compare"
    else:
        summary = (
            f"revenue {money_format(current, code)} in the past 24 h vs {money_format(previous, code)} "
            f"the day before ({change:+.1f}%)"
        )
    return RuleResult(
        rule="revenue_dip",
        severity=WARNING,
        firing=change is not None and change < -dip_percent,
        observed=None if change is None else round(change, 2),
        threshold=-float(dip_percent),
        summary=summary,
        fingerprint=currency,
    )


# Every alert rule, for the admin's choices (task_queue_stalled is sent by the watchdog of `serve`).
RULE_NAMES = (
    "webhook_failures",
    "webhook_signature_failures",
    "payment_error_rate",
    "revenue_dip",
    "task_queue_stalled",
)

# Rules whose observed value and threshold are percentages; the others count events.
PERCENT_RULES = frozenset({"payment_error_rate", "revenue_dip"})


def _number_text(value: float, places: int) -> str:
    text = f"{value:,.{places}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def alert_value_text(rule: str, value: float | None) -> str:
    """An alert's observed value or threshold for people: "12.5%", "-30%" (percent rules), "4" (counts); "–" for none."""
    if value is None:
        return "–"
    return f"{_number_text(value, 1)}%" if rule in PERCENT_RULES else _number_text(value, 0)


PENDING = "pending"
FIRING = "firing"
RESOLVED = "resolved"
INACTIVE = "inactive"


@dataclass(frozen=True)
class Step:
    status: str
    pending_since: datetime | None  # when the condition began holding (the episode's start)
    cleared_at: datetime | None  # when a firing alert's condition cleared (keep_firing_for runs from here)


def alert_step(
    *,
    status: str | None,
    condition: bool,
    pending_since: datetime | None,
    cleared_at: datetime | None,
    now: datetime,
    hold: timedelta,
    keep: timedelta,
) -> Step:
    """An alert's state after one evaluation, as Prometheus does it (``status`` None: no alert yet).

    The condition must hold ``hold`` (``for``) before the alert fires: ``pending`` until
    an evaluation finds it held that long (so a ``for`` shorter than the evaluation
    interval fires at the next evaluation; 0 fires at once). A pending alert whose
    condition clears is ``inactive`` (it never fired). A firing alert whose condition
    clears keeps firing until ``keep`` (``keep_firing_for``) has passed since it cleared;
    a condition back meanwhile means it never resolved.
    """
    if status == FIRING:
        if condition:
            return Step(FIRING, pending_since, None)
        cleared = cleared_at or now
        if now - cleared >= keep:
            return Step(RESOLVED, None, None)
        return Step(FIRING, pending_since, cleared)
    if not condition:
        return Step(INACTIVE if status == PENDING else status, None, None)
    since = pending_since if status == PENDING and pending_since is not None else now
    return Step(FIRING if now - since >= hold else PENDING, since, None)


def notification_kind(
    *,
    was_firing: bool,
    firing: bool,
    started_at: datetime | None,
    last_notified_at: datetime | None,
    now: datetime,
    repeat: timedelta,
    silenced: bool,
    acknowledged: bool = False,
    send_resolved_when_silenced: bool = True,
) -> str | None:
    """What to tell about one alert after an evaluation: "firing", "reminder", "resolved" or nothing.

    ``started_at`` is the start of the current (or just ended) firing episode. A
    silenced alert is never announced; once the silence ends while it still fires,
    it is announced as firing. An acknowledged alert gets no reminders. A resolve
    is announced only when the episode was, and, when the alert is silenced now,
    only with ``send_resolved_when_silenced`` (whoever saw it fire hears it is over).
    """
    announced = last_notified_at is not None and started_at is not None and last_notified_at >= started_at
    if firing:
        if silenced:
            return None
        if not was_firing or not announced:
            return "firing"
        if acknowledged:
            return None
        return "reminder" if now - last_notified_at >= repeat else None
    if was_firing and announced and (send_resolved_when_silenced or not silenced):
        return "resolved"
    return None


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def time_zone_known(name: str) -> bool:
    """Whether ``name`` is an IANA time zone of the zone database (``Europe/Berlin``, ``UTC``)."""
    return isinstance(name, str) and name in _time_zones()


def window_active(*, weekdays: list[int], start: time, end: time, time_zone: str, now: datetime) -> bool:
    """Whether a weekly maintenance window is open at ``now`` (aware).

    The window opens on each of ``weekdays`` (0 Monday) at ``start`` and closes at ``end`` (the next day when at
    or before ``start``), both wall-clock times in ``time_zone``: across a daylight-saving change it keeps its
    local times and is an hour shorter or longer. A start that does not exist that day (in the skipped hour) is
    read with the offset before the change (02:30 is 03:30 after it), a repeated one as its first occurrence.
    """
    zone = zoneinfo.ZoneInfo(time_zone)
    today = now.astimezone(zone).date()
    moment = now.astimezone(UTC)
    for back in (0, 1):  # a window opened yesterday may still be open
        day = today - timedelta(days=back)
        if day.weekday() not in weekdays:
            continue
        opens = datetime.combine(day, start, tzinfo=zone)
        closes = datetime.combine(day + timedelta(days=1) if end <= start else day, end, tzinfo=zone)
        # Compared in UTC: two datetimes sharing a tzinfo compare by wall clock, ignoring the offset.
        if opens.astimezone(UTC) <= moment < closes.astimezone(UTC):
            return True
    return False


# --- Governance KPIs ------------------------------------------------------------------

OK = "ok"
AT_RISK = "at_risk"
FAILING = "failing"
NO_DATA = "no_data"
WARMING_UP = "warming_up"


@dataclass(frozen=True)
class Kpi:
    """One KPI measured over a window. ``warming_up_until`` is set while the service has not yet run a full
    window: until then the figure covers only part of it, so it is reported but not judged."""

    name: str
    value: float | None  # percent
    target: float
    higher_is_better: bool = True
    warming_up_until: datetime | None = None

    def status(self, margin: float) -> str:
        if self.warming_up_until is not None:
            return WARMING_UP
        if self.value is None:
            return NO_DATA
        gap = self.value - self.target if self.higher_is_better else self.target - self.value
        if gap < 0:
            return FAILING
        return AT_RISK if gap <= margin else OK


def rate(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def _warming_up_note(kpi: Kpi) -> str | None:
    if kpi.warming_up_until is None:
        return None
    return (
        "warming up: the service has not yet run a full window, so this figure covers only part of it "
        f"and is judged from {kpi.warming_up_until.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    )


def governance(kpis: list[Kpi], *, margin: float) -> dict:
    """``failing``, ``at_risk``, ``warming_up`` or ``healthy``, naming the KPIs that are not OK.

    A warming-up KPI is never failing or at risk; governance warms up while any KPI does and none fails.
    """
    statuses = {kpi.name: kpi.status(margin) for kpi in kpis}
    failing = sorted(name for name, status in statuses.items() if status == FAILING)
    at_risk = sorted(name for name, status in statuses.items() if status == AT_RISK)
    warming = [kpi for kpi in kpis if statuses[kpi.name] == WARMING_UP]
    status = "failing" if failing else "at_risk" if at_risk else WARMING_UP if warming else "healthy"
    until = max((kpi.warming_up_until for kpi in warming), default=None)
    return {
        "status": status,
        "failing": failing,
        "at_risk": at_risk,
        "warming_up": sorted(kpi.name for kpi in warming),
        "warming_up_until": None if until is None else utc_iso(until),
        "kpis": {
            kpi.name: {
                "value": kpi.value,
                "target": kpi.target,
                "direction": "min" if kpi.higher_is_better else "max",
                "status": statuses[kpi.name],
                "warming_up_until": None if kpi.warming_up_until is None else utc_iso(kpi.warming_up_until),
                "note": _warming_up_note(kpi),
            }
            for kpi in kpis
        },
    }


# --- Health ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    cpu_percent: float
    mem_percent: float
    disk_percent: float
    heartbeat_max_age: float


def ops_warnings(
    *,
    cpu_percent: float | None,
    mem_percent: float,
    disk_percent: float,
    heartbeat_age_sec: float | None,
    api_healthy: bool,
    api_url: str,
    api_error: str | None,
    audit_write_failures: int,
    firing_alerts: list[str],
    governance_failing: list[str],
    audit_discrepancies: int,
    cache_problem: str | None,
    limits: Thresholds,
) -> list[str]:
    """The snapshot's warnings in plain words: "CPU 98% (threshold 85%)", "API probe of … failed: connection refused"."""
    warnings = []
    if cache_problem:
        warnings.append(f"Cache {cache_problem}")
    for name, value, limit in (
        ("CPU", cpu_percent, limits.cpu_percent),
        ("Memory", mem_percent, limits.mem_percent),
        ("Disk", disk_percent, limits.disk_percent),
    ):
        if value is not None and value > limit:
            warnings.append(f"{name} {value:.0f}% (threshold {limit:g}%)")
    if heartbeat_age_sec is None:
        warnings.append("No scheduler heartbeat")
    elif heartbeat_age_sec > limits.heartbeat_max_age:
        warnings.append(f"Scheduler heartbeat {heartbeat_age_sec:.0f} s old (threshold {limits.heartbeat_max_age:g} s)")
    if not api_healthy:
        warnings.append(f"API probe of {api_url} failed: {api_error or 'no answer'}")
    if audit_write_failures:
        noun = "failure" if audit_write_failures == 1 else "failures"
        warnings.append(f"{audit_write_failures} audit log write {noun}")
    warnings.extend(f"Alert firing: {name}" for name in firing_alerts)
    if governance_failing:
        warnings.append(f"Governance failing: {', '.join(governance_failing)}")
    if audit_discrepancies:
        noun = "discrepancy" if audit_discrepancies == 1 else "discrepancies"
        warnings.append(f"Weekly audit: {audit_discrepancies} {noun}")
    return warnings


def overall(*, warnings: list[str], api_healthy: bool, critical_firing: bool, governance_status: str) -> str:
    """``critical`` when the API is down, a critical alert fires or governance fails; ``degraded`` on any warning.

    Governance ``warming_up`` (a fresh install) is neither: it is shown, not judged.
    """
    if not api_healthy or critical_firing or governance_status == "failing":
        return "critical"
    return "degraded" if warnings else "healthy"


def _cpu_total(times: dict[str, float]) -> float:
    # On Linux guest time is already counted in user time (as psutil does it).
    return sum(times.values()) - times.get("guest", 0.0) - times.get("guest_nice", 0.0)


def cpu_percent_between(before: dict[str, float], after: dict[str, float]) -> float | None:
    """CPU busy percent between two ``psutil.cpu_times()`` samples (as dicts); None when no time passed."""
    total = _cpu_total(after) - _cpu_total(before)
    if total <= 0:
        return None
    idle = sum(after.get(name, 0.0) - before.get(name, 0.0) for name in ("idle", "iowait"))
    return round(max(0.0, min(100.0, 100.0 * (total - idle) / total)), 1)
