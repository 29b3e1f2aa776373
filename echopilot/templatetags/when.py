"""``{% load when %}``: the one date style and relative times in templates (``echopilot.timefmt``).

``{{ dt|moment }}`` → "2026-11-29 06:04 UTC"; ``{{ dt|ago }}`` →
``<time datetime="2026-11-29T06:04:00+00:00" title="2026-11-29 06:04 UTC">12 min ago</time>``.
Both show nothing for what is no aware moment (None, "", a date, a naive datetime), never raise.
"""

from datetime import UTC, datetime

from django import template
from django.utils.html import format_html

from echopilot.timefmt import ago as ago_text
from echopilot.timefmt import moment_format

register = template.Library()


def _moment(value) -> datetime | None:
    if isinstance(value, str):  # an ISO 8601 moment as stored in JSON documents (snapshots)
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        return None
    return value


@register.filter
def moment(value) -> str:
    """The moment as "2026-11-29 06:04 UTC" in the configured time zone."""
    value = _moment(value)
    return moment_format(value) if value is not None else ""


@register.filter
def ago(value) -> str:
    """A ``<time>`` element: "12 min ago", with the absolute moment in its title and ISO 8601 in datetime."""
    value = _moment(value)
    if value is None:
        return ""
    iso = value.astimezone(UTC).isoformat(timespec="seconds")
    return format_html('<time datetime="{}" title="{}">{}</time>', iso, moment_format(value), ago_text(value))
