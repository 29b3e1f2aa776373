"""Time for people: one date style and relative times (issue #14, item 3)."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.template import Context, Template
from django.test import override_settings
from django.utils import timezone

from echopilot.timefmt import ago, duration_format, moment_format
from tests.factories import make_email

NOW = datetime(2026, 11, 29, 6, 4, 30, tzinfo=UTC)


def test_moment_format_is_one_style_in_the_configured_time_zone():
    assert moment_format(NOW) == "2026-11-29 06:04 UTC"
    with override_settings(TIME_ZONE="Europe/Berlin"):
        assert moment_format(NOW) == "2026-11-29 07:04 CET"


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=40), "40 s"),
        (timedelta(minutes=12, seconds=59), "12 min"),
        (timedelta(hours=3), "3 h"),
        (timedelta(hours=3, minutes=5), "3 h 5 min"),
        (timedelta(days=2, hours=4, minutes=30), "2 d 4 h"),
        (timedelta(days=400), "400 d"),
        (-timedelta(minutes=12), "12 min"),
    ],
)
def test_duration_format(delta, text):
    assert duration_format(delta) == text


def test_ago_says_past_and_future():
    assert ago(NOW - timedelta(minutes=12), now=NOW) == "12 min ago"
    assert ago(NOW + timedelta(minutes=12), now=NOW) == "in 12 min"
    assert ago(NOW - timedelta(seconds=3), now=NOW) == "just now"


def render(source: str, **context) -> str:
    return Template("{% load when %}" + source).render(Context(context))


def test_the_moment_filter_shows_the_one_date_style():
    assert render("{{ at|moment }}", at=NOW) == "2026-11-29 06:04 UTC"
    assert render("{{ at|moment }}", at="2026-11-29T06:04:30Z") == "2026-11-29 06:04 UTC"  # as JSON stores it
    with override_settings(TIME_ZONE="Europe/Berlin"):
        assert render("{{ at|moment }}", at=NOW) == "2026-11-29 07:04 CET"


def test_the_ago_filter_is_a_time_element_with_the_absolute_moment_in_its_title(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW + timedelta(minutes=12))
    assert render("{{ at|ago }}", at=NOW) == (
        '<time datetime="2026-11-29T06:04:30+00:00" title="2026-11-29 06:04 UTC">12 min ago</time>'
    )


@pytest.mark.parametrize(
    "value", [None, "", "yesterday", "<b>x</b>", 5, datetime(2026, 11, 29, 6, 4), date(2026, 11, 29)]
)
def test_the_filters_show_nothing_for_what_is_no_aware_moment(value):
    assert render("{{ at|moment }}|{{ at|ago }}", at=value) == "|"


@pytest.mark.django_db
def test_the_admin_shows_times_in_the_one_date_style(staff_login):
    email = make_email(created_at=NOW)
    client = staff_login("notifications.view_email")

    changelist = client.get("/admin/notifications/email/").content.decode()
    detail = client.get(f"/admin/notifications/email/{email.pk}/change/").content.decode()

    assert "2026-11-29 06:04 UTC" in changelist and "2026-11-29 06:04 UTC" in detail
    with override_settings(TIME_ZONE="Europe/Berlin"):
        assert "2026-11-29 07:04 CET" in client.get("/admin/notifications/email/").content.decode()
