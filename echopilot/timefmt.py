"""Time for people: the one date style of the admin and the dashboard, and relative times ("12 min ago").

``moment_format`` shows a moment in the configured TIME_ZONE (UTC by default) as "2026-11-29 06:04 UTC";
``duration_format`` a length of time as "12 min", "3 h 5 min", "2 d 4 h"; ``ago`` a past moment as
"12 min ago" (a future one as "in 12 min"). The template filters in ``echopilot.templatetags.when`` call them.
"""

from datetime import datetime, timedelta

from django.utils import timezone


def moment_format(value: datetime) -> str:
    """The one date style: "2026-11-29 06:04 UTC" (the configured time zone's abbreviation)."""
    local = timezone.localtime(value)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def duration_format(delta: timedelta) -> str:
    """A length of time in its two largest units: "40 s", "12 min", "3 h 5 min", "2 d 4 h"."""
    seconds = int(abs(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def ago(value: datetime, now: datetime | None = None) -> str:
    """How long ago ``value`` was: "just now", "12 min ago", "3 h 5 min ago"; "in 12 min" for a future moment."""
    delta = (now or timezone.now()) - value
    if abs(delta) < timedelta(seconds=10):
        return "just now"
    text = duration_format(delta)
    return f"{text} ago" if delta > timedelta(0) else f"in {text}"
