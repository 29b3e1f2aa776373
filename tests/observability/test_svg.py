"""The SVG charts: well-formed, labelled, escaped. No database."""

import xml.etree.ElementTree as ET  # noqa: S405 - parses our own output

from observability import svg

NS = "{http://www.w3.org/2000/svg}"


def test_stacked_bars_stack_each_series_and_print_totals():
    markup = svg.stacked_bar_chart(
        title="Payments <per hour>", labels=["10:00", "11:00"], series={"succeeded": [3, 5], "failed": [1, 0]}
    )
    root = ET.fromstring(markup)  # noqa: S314
    texts = [node.text for node in root.iter(f"{NS}text")]
    assert "Payments <per hour>" in texts  # escaped in the markup, intact once parsed
    assert {"4", "5", "10:00", "11:00", "succeeded", "failed"} <= set(texts)
    assert len([rect for rect in root.iter(f"{NS}rect") if rect.find(f"{NS}title") is not None]) == 3
    assert "<per hour>" not in markup


def test_line_chart_breaks_at_gaps_and_prints_the_last_value():
    markup = svg.line_chart(
        title="CPU", labels=["a", "b", "c", "d"], series={"cpu": [10.0, None, 30.0, 42.5]}, unit="%", y_max=100
    )
    root = ET.fromstring(markup)  # noqa: S314
    assert len(list(root.iter(f"{NS}polyline"))) == 2
    assert "cpu 42%" in [node.text for node in root.iter(f"{NS}text")]


def test_an_empty_chart_says_so():
    root = ET.fromstring(svg.stacked_bar_chart(title="Emails", labels=["x"], series={}))  # noqa: S314
    assert "no data in this period" in [node.text for node in root.iter(f"{NS}text")]
