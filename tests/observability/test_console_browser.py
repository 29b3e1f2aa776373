"""The admin home and the dashboard in real Chromium, at 1366×900 and 390×844, light and dark.

Screenshots: test-artifacts/admin/home-*.png and dashboard-*.png.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import make_alert, make_fraud_check, make_fraud_review, make_payment, make_snapshot, make_user
from tests.fixtures.browser import overflow, pans, shot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

OPERATOR = [
    "fraud.view_fraudreview",
    "fraud.view_fraudcheck",
    "observability.view_alert",
    "observability.view_dashboard",
    "payments.view_payment",
]


def seed(now):
    for hour in range(24):
        for n in range(hour % 5 + 1):
            status = ["succeeded", "succeeded", "failed", "refunded", "pending"][(hour + n) % 5]
            make_payment(status=status, amount="7250.00", created_at=now - timedelta(hours=hour, minutes=n))
            make_fraud_check(decision=["allow", "review", "block"][n % 3], created_at=now - timedelta(hours=hour))
    make_payment(currency="jpy", amount="120000", created_at=now - timedelta(days=2))
    for minutes in (185, 40):
        make_fraud_review(
            fraud_check=make_fraud_check(decision="review", email="grace@example.com", amount="7250.00"),
            opened_at=now - timedelta(minutes=minutes),
        )
    long = "EUR revenue 522.17 in the past 24 h vs 1,177.29 the day before (-55.6%), " * 3
    make_alert("revenue_dip", fingerprint="eur", severity="warning", summary=long, observed=-55.65, threshold=-30)
    make_alert("webhook_failures", summary="12 webhook deliveries failed in 5 min", observed=12, threshold=5)
    for hour in range(24):
        make_snapshot(
            taken_at=now - timedelta(hours=hour, minutes=3),
            data={"ts_iso": "2026-11-28T22:00:04.340Z",
                  "system": {"cpu_percent": 20.0 + hour * 3, "mem_percent": 40.0, "disk_percent": 24.5},
                  "api": {"healthy": False, "latency_sec": 0.0024},
                  "health": {"overall": "critical", "governance_status": "failing",
                             "ops_warnings": ["cpu 98% > 85%", "api probe failed"]}},
        )  # fmt: skip


def chart_fit(page) -> list[tuple[float, float]]:
    """Each chart's drawn width against its box's width."""
    return page.eval_on_selector_all(
        ".obs-chart", "boxes => boxes.map(b => [b.querySelector('svg').getBoundingClientRect().width, b.clientWidth])"
    )


def luminance(page, selector: str, prop: str) -> float:
    """0 (black) to 255 (white): the mean of a computed colour's channels."""
    rgb = page.eval_on_selector(selector, f"el => getComputedStyle(el).{prop}")
    channels = [float(part) for part in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]
    return sum(channels) / 3


def test_the_dashboard_fits_the_screen_and_reads_in_light_and_dark(staff_page):
    seed(timezone.now())
    user = make_user("ops", permissions=OPERATOR)
    for viewport in ("desktop", "phone"):
        for dark in (False, True):
            page = staff_page(user, "/dashboard/", viewport=viewport, dark=dark)
            name = f"dashboard-{viewport}{'-dark' if dark else ''}"
            assert page.get_by_role("heading", name="Charts").is_visible()
            assert page.locator(".obs-chart svg").count() == 6
            assert not pans(page), name
            fits = chart_fit(page)
            assert all(0 < drawn <= box + 0.5 for drawn, box in fits), (name, fits)
            if viewport == "desktop":  # two charts side by side, each wider than a phone
                assert all(drawn > 550 for drawn, _ in fits), fits
            else:  # the firing alerts' table scrolls in its own box, the page does not
                assert overflow(page, "#firing-alerts") > 0
            # The charts' texts and gridlines follow the page's text colour: dark on light, light on dark.
            text = luminance(page, ".obs-chart svg text", "fill")
            background = luminance(page, "body", "backgroundColor")
            assert abs(text - background) > 120, (name, text, background)
            shot(page, f"admin/{name}")
            page.context.close()


def test_the_home_shows_the_work_as_links_on_desktop_and_phone(staff_page):
    seed(timezone.now())
    user = make_user("ops", permissions=OPERATOR)
    for viewport, dark in (("desktop", False), ("phone", True)):
        page = staff_page(user, "/admin/", viewport=viewport, dark=dark)
        work = page.get_by_role("navigation", name="Work")
        reviews = work.get_by_role("link", name="Open reviews")
        assert "2 open" in reviews.inner_text() and "oldest 3 h 5 min" in reviews.inner_text()
        alerts = work.get_by_role("link", name="Firing alerts")
        assert "revenue_dip/eur, webhook_failures" in alerts.inner_text()
        assert "critical" in work.get_by_role("link", name="Overall health").inner_text()
        assert all(box["height"] >= 44 for box in (link.bounding_box() for link in work.get_by_role("link").all()))
        assert not pans(page)
        shot(page, f"admin/home-{viewport}{'-dark' if dark else ''}")
        if viewport == "phone":
            reviews.click()
            page.wait_for_url("**/admin/fraud/fraudreview/**")
        page.context.close()
