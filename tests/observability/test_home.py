"""The admin home shows the work: open reviews, firing alerts, overall health; each a link, each behind its permission."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fraud.models import FraudReview
from observability.home import home_panels
from tests.factories import make_alert, make_fraud_review, make_snapshot, make_user

pytestmark = pytest.mark.django_db

EVERYTHING = ["fraud.view_fraudreview", "observability.view_alert", "observability.view_dashboard"]


def panel(html: str, key: str) -> str | None:
    """The work panel's markup (``<a class="ops-panel ..." id="work-<key>" href=...>...</a>``), or None."""
    match = re.search(rf'<a class="ops-panel[^"]*" id="work-{key}" href="([^"]*)">(.*?)</a>', html, re.S)
    return match and f"{match.group(1)} {match.group(2)}"


def test_the_home_counts_open_reviews_and_says_how_long_the_oldest_waits(staff_login):
    now = timezone.now()
    make_fraud_review(opened_at=now - timedelta(hours=3, minutes=5, seconds=20))
    make_fraud_review(opened_at=now - timedelta(minutes=10))
    make_fraud_review(opened_at=now - timedelta(days=3), state=FraudReview.State.APPROVED)  # closed: not work
    html = staff_login(*EVERYTHING).get("/admin/").content.decode()
    reviews = panel(html, "reviews")
    assert reviews.startswith("/admin/fraud/fraudreview/ ")
    assert "<b>2 open</b>" in reviews and "oldest 3 h 5 min" in reviews


def test_the_home_names_the_firing_alerts(staff_login):
    make_alert("webhook_failures")
    make_alert("revenue_dip", fingerprint="eur", severity="warning")
    make_alert("cpu_high", status="resolved")
    alerts = panel(staff_login(*EVERYTHING).get("/admin/").content.decode(), "alerts")
    assert alerts.startswith("/admin/observability/alert/?status__exact=firing ")
    assert "<b>2 firing</b>" in alerts and "revenue_dip/eur, webhook_failures" in alerts and "cpu_high" not in alerts


def test_the_home_shows_overall_health_from_the_latest_snapshot(staff_login):
    now = timezone.now()
    make_snapshot(taken_at=now - timedelta(hours=2), data={"health": {"overall": "healthy"}})
    make_snapshot(taken_at=now - timedelta(minutes=12, seconds=3), data={"health": {"overall": "critical"}})
    health = panel(staff_login(*EVERYTHING).get("/admin/").content.decode(), "health")
    assert health.startswith("/dashboard/ ")
    assert "<b>critical</b>" in health and "snapshot 12 min ago" in health


def test_an_empty_installation_says_there_is_no_work(staff_login):
    html = staff_login(*EVERYTHING).get("/admin/").content.decode()
    assert "the queue is empty" in panel(html, "reviews") and "<b>0 firing</b>" in panel(html, "alerts")
    assert "<b>unknown</b>" in panel(html, "health") and "no snapshot yet" in panel(html, "health")


@pytest.mark.parametrize(
    ("permission", "shown"),
    [
        ("fraud.view_fraudreview", "reviews"),
        ("observability.view_alert", "alerts"),
        ("observability.view_dashboard", "health"),
    ],
)
def test_each_panel_needs_the_permission_of_what_it_links_to(staff_login, permission, shown):
    make_fraud_review()
    make_alert("webhook_failures")
    make_snapshot(data={"health": {"overall": "healthy"}})
    html = staff_login(permission).get("/admin/").content.decode()
    assert [key for key in ("reviews", "alerts", "health") if panel(html, key)] == [shown]
    target = re.search(r'id="work-\w+" href="([^"]*)"', html).group(1)
    assert staff_login(permission, username="again").get(target).status_code == 200  # the link opens for them


def test_a_staff_user_without_those_permissions_sees_no_panel(staff_login):
    make_fraud_review()
    html = staff_login("payments.view_payment").get("/admin/").content.decode()
    assert 'class="ops-work"' not in html and "ops-panel" not in html


def test_the_panels_cost_three_queries():
    now = timezone.now()
    for minutes in (5, 50, 500):
        make_fraud_review(opened_at=now - timedelta(minutes=minutes))
        make_alert(f"rule_{minutes}")
    make_snapshot(data={"health": {"overall": "healthy"}})
    user = make_user("ops", permissions=EVERYTHING)
    user.has_perm("fraud.view_fraudreview")  # loads the permission cache first
    with CaptureQueriesContext(connection) as queries:
        panels = home_panels(user=user, now=now)
    assert [p.value for p in panels] == ["3 open", "3 firing", "healthy"]
    assert len(queries) == 3


def test_texts_from_records_are_escaped_on_the_home(staff_login):
    make_alert("<img src=x onerror=alert(1)>")
    make_snapshot(data={"health": {"overall": "<script>alert(1)</script>"}})
    html = staff_login(*EVERYTHING).get("/admin/").content.decode()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in panel(html, "alerts")
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in panel(html, "health")
