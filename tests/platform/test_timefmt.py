"""Time for people: one date style and relative times (issue #14, item 3)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from echopilot.timefmt import ago, duration_format, moment_format

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
