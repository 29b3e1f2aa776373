"""How the admin shows machine records' values: times, JSON, long texts, states.

Admin classes use these in ``@admin.display`` methods (list columns and detail
fields alike), so every record reads the same way: a moment in the one date
style with the relative time in its title, JSON pretty-printed, a long error cut
with the full text in its title, a state as a badge. Money is
``echopilot.money.money_format``; words for states come from each app's models.
The look is ``echopilot/static/echopilot/records.css`` (see ``ReadOnlyAdmin.Media``).
"""

import json
from datetime import datetime

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from echopilot.timefmt import ago, moment_format

EMPTY = "-"


def moment_html(value: datetime | None) -> str:
    """``<time>`` with the moment in the one date style ("2026-11-29 06:04 UTC"), "12 min ago" as its title."""
    if value is None:
        return EMPTY
    return format_html('<time datetime="{}" title="{}">{}</time>', value.isoformat(), ago(value), moment_format(value))


def moment_field(field: str, description: str):
    """A display method for the datetime ``field`` (sortable by it), for ``list_display`` or ``fields``."""

    @admin.display(description=description, ordering=field)
    def show(model_admin, obj):
        return moment_html(getattr(obj, field))

    return show


def json_html(value) -> str:
    """A JSON value pretty-printed (sorted keys, two-space indent, non-ASCII as it is) in a ``<pre>``."""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return format_html('<pre class="record-json">{}</pre>', text)


def truncated_html(text: str, chars: int = 80) -> str:
    """``text`` on one line, cut at ``chars`` with "…"; the whole text in the title."""
    if not text:
        return EMPTY
    line = " ".join(text.split())
    short = line if len(line) <= chars else line[: chars - 1] + "…"
    return format_html('<span class="record-truncated" title="{}">{}</span>', text, short)


def badge_html(value: str, text: str) -> str:
    """A state as a badge: ``value`` (a code) picks the colour, ``text`` is what people read."""
    return format_html('<span class="record-badge record-badge-{}">{}</span>', value, text)


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """ "1 email", "2 emails", "0 Telegram messages": for success messages that say what happened."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def address_short(address: str) -> str:
    """An address as a success message names it: "grace@…" (the local part; the row shows the whole)."""
    local, at, _ = address.partition("@")
    return f"{local}@…" if at else address


def record_link(record, text: str) -> str:
    """A link to another record's admin page, reading ``text``; "-" when there is none."""
    if record is None:
        return EMPTY
    meta = record._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[record.pk])
    return format_html('<a href="{}">{}</a>', url, text)
