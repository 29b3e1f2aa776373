"""The SVG charts: well-formed, labelled, escaped, scaling, on round ticks and a real time axis. No database."""

import xml.etree.ElementTree as ET  # noqa: S405 - parses our own output
from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from observability import svg

NS = "{http://www.w3.org/2000/svg}"
NOW = datetime(2026, 11, 29, 6, 4, tzinfo=UTC)
HOUR = timedelta(hours=1)


def texts(markup: str) -> list[str]:
    return [node.text for node in ET.fromstring(markup).iter(f"{NS}text")]  # noqa: S314


def test_stacked_bars_stack_each_series_and_print_totals():
    markup = svg.stacked_bar_chart(
        title="Payments <per day>",
        buckets=[NOW - timedelta(days=1), NOW],
        step=timedelta(days=1),
        series={"succeeded": [3, 5], "failed": [1, 0]},
    )
    root = ET.fromstring(markup)  # noqa: S314
    assert "Payments <per day>" in texts(markup)  # escaped in the markup, intact once parsed
    assert {"4", "5", "succeeded", "failed"} <= set(texts(markup))
    tooltips = [rect.find(f"{NS}title").text for rect in root.iter(f"{NS}rect") if rect.find(f"{NS}title") is not None]
    assert tooltips == [
        "2026-11-28 06:04 UTC succeeded: 3",
        "2026-11-28 06:04 UTC failed: 1",
        "2026-11-29 06:04 UTC succeeded: 5",
    ]
    assert "<per day>" not in markup


def test_a_chart_scales_to_its_box_and_draws_in_the_pages_text_colour():
    markup = svg.line_chart(title="CPU", start=NOW - HOUR, end=NOW, series={"cpu": [(NOW, 50.0)]}, y_max=100)
    root = ET.fromstring(markup)  # noqa: S314
    assert root.get("viewBox") == f"0 0 {svg.WIDTH} {svg.HEIGHT}"
    assert root.get("width") is None and root.get("height") is None
    assert root.get("fill") == "currentColor"
    # Only the series have colours of their own: no fixed greys that vanish on a dark background.
    for node in root.iter():
        if node.tag in (f"{NS}text", f"{NS}line"):
            assert node.get("fill") in (None, "currentColor") and node.get("stroke") in (None, "currentColor")


def test_line_chart_breaks_at_gaps_and_prints_the_last_value():
    points = [(NOW - HOUR * 3, 10.0), (NOW - HOUR * 2, None), (NOW - HOUR, 30.0), (NOW, 42.5)]
    markup = svg.line_chart(title="CPU", start=NOW - HOUR * 4, end=NOW, series={"cpu": points}, unit="%", y_max=100)
    assert len(list(ET.fromstring(markup).iter(f"{NS}polyline"))) == 2  # noqa: S314
    assert "cpu 42%" in texts(markup)
    assert {"0%", "20%", "40%", "60%", "80%", "100%"} <= set(texts(markup))


def test_points_sit_where_their_time_is():
    markup = svg.line_chart(title="t", start=NOW - HOUR * 4, end=NOW, series={"a": [(NOW - HOUR * 3, 1.0), (NOW, 1.0)]})
    line = next(ET.fromstring(markup).iter(f"{NS}polyline"))  # noqa: S314
    xs = [float(point.split(",")[0]) for point in line.get("points").split()]
    plot = svg.WIDTH - svg.LEFT - svg.RIGHT
    assert xs == [pytest.approx(svg.LEFT + plot / 4, abs=0.1), pytest.approx(svg.WIDTH - svg.RIGHT, abs=0.1)]


def test_an_empty_chart_says_so():
    markup = svg.stacked_bar_chart(title="Emails", buckets=[NOW], step=HOUR, series={})
    assert "no data in this period" in texts(markup)
    assert [text for text in texts(markup) if text in ("0", "1")] == ["0", "1"]


@pytest.mark.parametrize(
    ("top", "ticks"),
    [
        (0, [0, 1]),
        (1, [0, 1]),
        (3, [0, 1, 2, 3]),
        (7, [0, 2, 4, 6, 8]),
        (17, [0, 5, 10, 15, 20]),
        (50, [0, 10, 20, 30, 40, 50]),
        (1234, [0, 250, 500, 750, 1000, 1250]),
    ],
)
def test_count_axes_have_whole_number_ticks(top, ticks):
    assert svg.y_ticks(top) == ticks
    assert all(isinstance(tick, int) for tick in ticks)


def test_amount_axes_may_step_by_fractions():
    assert svg.y_ticks(0.8, whole=False) == [0, 0.2, 0.4, 0.6, 0.8]
    assert svg.y_ticks(100, whole=False) == [0, 20, 40, 60, 80, 100]


def test_a_count_chart_prints_no_fractional_or_odd_ticks():
    markup = svg.stacked_bar_chart(title="Fraud", buckets=[NOW - HOUR, NOW], step=HOUR, series={"allow": [50, 3]})
    assert {"0", "10", "20", "30", "40", "50"} <= set(texts(markup))
    assert not {"12", "25", "38", "12.5", "0.2", "0.8"} & set(texts(markup))


def test_a_24_hour_axis_ticks_at_round_hours_and_names_the_day_at_midnight():
    ticks = svg.time_ticks(NOW - timedelta(hours=24), NOW)
    assert [label for _, label in ticks] == ["09:00", "12:00", "15:00", "18:00", "21:00", "Sun 29", "03:00", "06:00"]
    assert all(moment.minute == 0 and moment.hour % 3 == 0 for moment, _ in ticks)


def test_a_7_day_axis_ticks_at_midnights():
    ticks = svg.time_ticks(NOW - timedelta(days=7), NOW)
    assert [label for _, label in ticks] == ["Mon 23", "Tue 24", "Wed 25", "Thu 26", "Fri 27", "Sat 28", "Sun 29"]
    assert all(moment.hour == 0 and moment.minute == 0 for moment, _ in ticks)


@override_settings(TIME_ZONE="Asia/Kolkata")
def test_time_ticks_are_round_in_the_display_time_zone():
    ticks = svg.time_ticks(NOW - timedelta(hours=24), NOW)  # 11:34 in Kolkata (UTC+5:30)
    assert ticks[0] == (datetime(2026, 11, 28, 6, 30, tzinfo=UTC), "12:00")
    assert "Sun 29" in [label for _, label in ticks]


def test_time_labels_that_would_overlap_are_left_out_but_their_ticks_stay():
    start = datetime(2026, 11, 23, tzinfo=UTC)
    markup = svg.line_chart(title="Revenue", start=start, end=start + timedelta(days=7), series={"USD": []})
    labels = [text for text in texts(markup) if text[:3] in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")]
    # "Mon 30" would end at the right edge, touching "Sun 29".
    assert labels == ["Mon 23", "Tue 24", "Wed 25", "Thu 26", "Fri 27", "Sat 28", "Sun 29"]
    root = ET.fromstring(markup)  # noqa: S314
    assert len([line for line in root.iter(f"{NS}line") if float(line.get("y2")) - float(line.get("y1")) == 4]) == 8
