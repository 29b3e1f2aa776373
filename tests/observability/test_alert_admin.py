"""Alerts in the admin and on the dashboard: state, who acknowledged, what silences them, transitions inline;
maintenance windows kept by those holding their permissions."""

import html
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from observability.alerts import alert_acknowledge
from observability.models import AlertTransition, MaintenanceWindow
from observability.roles import OPERATORS, ROLES
from tests.factories import make_alert

pytestmark = pytest.mark.django_db
WINDOW_URL = "/admin/observability/maintenancewindow/add/"
ALL_WEEK = {"weekdays": [str(day) for day in range(7)], "start": "00:00", "end": "00:00"}


def window_form(**fields) -> dict:
    return {"rule": "", "time_zone": "Europe/Berlin", "comment": "nightly backups", **ALL_WEEK, **fields}


def test_an_alert_page_shows_who_acknowledged_what_silences_it_and_its_transitions(admin_client):
    alert = make_alert(silenced_by="maintenance window all rules Sun 02:00–04:00 UTC (backups)")
    AlertTransition.objects.create(alert=alert, from_state="", to_state="firing", at=alert.started_at)
    alert_acknowledge(alert_id=alert.pk, by="telegram:4242")
    listing = html.unescape(admin_client.get("/admin/observability/alert/").text)
    assert "acknowledged by telegram:4242" in listing and ">silenced</span>" in listing
    page = html.unescape(admin_client.get(f"/admin/observability/alert/{alert.pk}/change/").text)
    assert "maintenance window all rules Sun 02:00–04:00 UTC (backups)" in page
    assert page.count("telegram:4242") >= 2  # the acknowledgement and its transition
    assert "acknowledged" in page and 'name="_save"' not in page
    assert 'name="transitions-0-note"' not in page  # read-only inline


def test_operators_keep_maintenance_windows_and_a_new_one_silences_the_alerts_it_covers_at_once(client, staff_login):
    alert = make_alert()
    staff_login(*ROLES[OPERATORS], username="op")
    response = client.post(WINDOW_URL, window_form())
    assert response.status_code == 302, response.text
    window = MaintenanceWindow.objects.get()
    assert (window.weekdays, window.author.username, window.time_zone) == (list(range(7)), "op", "Europe/Berlin")
    alert.refresh_from_db()
    assert alert.silenced_by.startswith("maintenance window all rules Mon,Tue,Wed,Thu,Fri,Sat,Sun 00:00–00:00")
    assert list(alert.transitions.values_list("to_state", "by")) == [("silenced", "user:op")]
    client.post(f"/admin/observability/maintenancewindow/{window.pk}/delete/", {"post": "yes"})
    alert.refresh_from_db()
    assert alert.silenced_by == "" and not MaintenanceWindow.objects.exists()


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"time_zone": "Mars/Olympus"}, "Not an IANA time zone"),
        ({"time_zone": "../../etc/passwd"}, "Not an IANA time zone"),
        ({"weekdays": []}, "This field is required."),
        ({"weekdays": ["7"]}, "Select a valid choice."),
        ({"rule": "no_such_rule"}, "Select a valid choice."),
        ({"start": "25:00"}, "Enter a valid time."),
        ({"comment": ""}, "This field is required."),
    ],
)
def test_a_bad_window_is_refused_naming_the_field(admin_client, fields, error):
    response = admin_client.post(WINDOW_URL, window_form(**fields))
    assert response.status_code == 200 and error in html.unescape(response.text)
    assert not MaintenanceWindow.objects.exists()


def test_someone_who_may_only_view_alerts_cannot_add_a_window(client, staff_login):
    staff_login("observability.view_alert", "observability.view_maintenancewindow")
    assert client.post(WINDOW_URL, window_form()).status_code == 403
    assert not MaintenanceWindow.objects.exists()


def test_the_dashboard_shows_acknowledged_silenced_and_pending_alerts(staff_login):
    now = timezone.now()
    make_alert(acknowledged_by="telegram:4242", acknowledged_at=now - timedelta(minutes=3))
    make_alert("revenue_dip", fingerprint="usd", silenced_by="silence until 2026-03-10 13:00 UTC by user:op (deploy)")
    make_alert("payment_error_rate", status="pending", pending_since=now - timedelta(minutes=4))
    page = staff_login("observability.view_dashboard").get("/dashboard/").text
    text = html.unescape(re.sub(r"<[^>]+>", "", page))  # the words people read, without the tags
    assert "acknowledged by telegram:4242 3 min ago" in text
    assert "silenced: silence until 2026-03-10 13:00 UTC by user:op (deploy)" in text
    assert "Pending (waiting for ALERT_FOR_MINUTES before firing): payment_error_rate since 4 min ago" in text
