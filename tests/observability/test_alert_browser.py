"""Alert pages and maintenance windows in real Chromium: desktop, phone and dark, no sideways page scroll."""

from datetime import timedelta

import pytest
from django.utils import timezone

from observability.models import AlertTransition
from observability.roles import OPERATORS, ROLES
from tests.factories import make_alert, make_user
from tests.fixtures.browser import pans, shot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.mark.parametrize(("viewport", "dark"), [("desktop", False), ("phone", False), ("phone", True)])
def test_alert_pages_fit_and_show_who_handles_them(staff_page, viewport, dark):
    now = timezone.now()
    acked = make_alert(acknowledged_by="telegram:4242", acknowledged_at=now - timedelta(minutes=3))
    AlertTransition.objects.create(alert=acked, from_state="", to_state="firing", at=now - timedelta(minutes=20))
    AlertTransition.objects.create(
        alert=acked, from_state="firing", to_state="acknowledged", at=now - timedelta(minutes=3), by="telegram:4242"
    )
    make_alert(
        "revenue_dip",
        fingerprint="usd",
        severity="warning",
        summary="revenue USD 500.00 in the past 24 h vs USD 1,000.00 the day before (-50.0%)",
        silenced_by="maintenance window all rules Mon,Tue,Wed,Thu,Fri,Sat,Sun 00:00–00:00 Europe/Berlin (backups)",
    )
    make_alert("payment_error_rate", status="pending", pending_since=now - timedelta(minutes=4))
    operator = make_user("op", permissions=[*ROLES[OPERATORS]])
    name = f"alerts/{viewport}{'-dark' if dark else ''}"
    for path, label in (
        ("/admin/observability/alert/", "list"),
        (f"/admin/observability/alert/{acked.pk}/change/", "detail"),
        ("/admin/observability/maintenancewindow/add/", "window"),
        ("/dashboard/", "dashboard"),
    ):
        page = staff_page(operator, path, viewport=viewport, dark=dark)
        shot(page, f"{name}-{label}")
        assert not pans(page), f"{path} scrolls sideways on {viewport}"
        if label == "window":
            assert page.locator("#id_start").get_attribute("type") == "time"  # no "Now" from the browser's clock
            if viewport == "phone":
                monday = page.locator("label[for='id_weekdays_0']").bounding_box()
                assert monday["height"] >= 44, "a weekday is a full-height row to tap on a phone"
                assert page.locator("#id_weekdays_0").bounding_box()["width"] < 40, "a checkbox, not a bar"
        page.close()
