"""The admin home's work panels: open reviews, firing alerts and overall health, each a link to where it is.

A user sees a panel only when they may open what it links to. Three small indexed queries at most.
"""

from dataclasses import dataclass
from datetime import datetime

from django.urls import reverse

from echopilot.timefmt import ago, duration_format
from observability import selectors

HEALTH_TONES = {"healthy": "good", "degraded": "warn", "critical": "bad"}
MAX_ALERT_NAMES = 4


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    value: str
    detail: str
    url: str
    tone: str  # good, warn, bad or info: the colour of its edge and value


def _reviews(now: datetime) -> Panel:
    count, oldest = selectors.open_reviews()
    return Panel(
        key="reviews",
        title="Open reviews",
        value=f"{count} open",
        detail=f"oldest {duration_format(now - oldest)}" if oldest else "the queue is empty",
        url=reverse("admin:fraud_fraudreview_changelist"),
        tone="warn" if count else "good",
    )


def _handled(firing) -> str:
    """ "; 1 acknowledged, 2 silenced" for the alerts someone is on or that are kept quiet."""
    acknowledged = sum(bool(alert.acknowledged_by) for alert in firing)
    silenced = sum(bool(alert.silenced_by) for alert in firing)
    parts = [f"{acknowledged} acknowledged" if acknowledged else "", f"{silenced} silenced" if silenced else ""]
    return "; " + ", ".join(part for part in parts if part) if acknowledged or silenced else ""


def _alerts() -> Panel:
    firing = selectors.firing_alerts()
    names = [alert.name for alert in firing[:MAX_ALERT_NAMES]]
    more = len(firing) - len(names)
    return Panel(
        key="alerts",
        title="Firing alerts",
        value=f"{len(firing)} firing",
        detail=(", ".join(names) + (f" and {more} more" if more else "") + _handled(firing)) if firing else "none",
        url=reverse("admin:observability_alert_changelist") + "?status__exact=firing",
        tone="bad" if any(alert.severity == "critical" for alert in firing) else "warn" if firing else "good",
    )


def _health(now: datetime) -> Panel:
    latest = selectors.snapshot_latest()
    overall = ((latest.data or {}).get("health") or {}).get("overall") if latest else None
    return Panel(
        key="health",
        title="Overall health",
        value=str(overall) if overall else "unknown",
        detail=f"snapshot {ago(latest.taken_at, now)}" if latest else "no snapshot yet",
        url=reverse("dashboard"),
        tone=HEALTH_TONES.get(overall, "info"),
    )


def home_panels(*, user, now: datetime) -> list[Panel]:
    panels = []
    if user.has_perm("fraud.view_fraudreview"):
        panels.append(_reviews(now))
    if user.has_perm("observability.view_alert"):
        panels.append(_alerts())
    if user.has_perm("observability.view_dashboard"):
        panels.append(_health(now))
    return panels
