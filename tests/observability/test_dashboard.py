"""The staff dashboard: real charts from seeded rows; anonymous users go to the admin login."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from echopilot.audit import utc_iso
from echopilot.timefmt import moment_format
from observability import rules
from tests.factories import make_alert, make_email, make_payment, make_snapshot, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(staff_login):
    """A staff user who holds the dashboard permission (tests/platform/test_permissions.py checks the others)."""
    return staff_login("observability.view_dashboard", username="ops")


def test_anonymous_users_are_sent_to_the_admin_login(client):
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=/dashboard/")


def test_non_staff_users_are_sent_to_the_login_too(client):
    client.force_login(make_user("customer", is_staff=False))
    assert client.get("/dashboard/").status_code == 302


def test_the_dashboard_draws_charts_from_seeded_data(staff_client):
    now = timezone.now()
    make_payment("pi_a", created_at=now - timedelta(hours=2))
    make_payment("pi_b", status="failed", created_at=now - timedelta(hours=2))
    make_payment("pi_c", currency="jpy", amount="120000", created_at=now - timedelta(hours=3))
    make_snapshot(
        taken_at=now - timedelta(hours=1),
        data={"ts_iso": "x", "system": {"cpu_percent": 12.0, "mem_percent": 40.0, "disk_percent": 55.0},
              "api": {"healthy": True, "latency_sec": 0.01},
              "health": {"overall": "degraded", "governance_status": "healthy", "ops_warnings": ["<b>odd</b>"]}},
    )  # fmt: skip
    html = staff_client.get("/dashboard/").content.decode()
    # Six charts that scale to their box: a viewBox, no fixed size.
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ') == 6 and 'width="960"' not in html
    # Each currency on its own scale, never yen and dollars on one axis.
    assert "Revenue per day, JPY (succeeded)" in html and "Revenue per day, USD (succeeded)" in html
    assert "Payments per hour by status" in html and "succeeded: 1" in html and "failed: 1" in html
    assert "cpu 12%" in html and "degraded" in html
    assert "&lt;b&gt;odd&lt;/b&gt;" in html
    assert 'src="http' not in html and "<script" not in html.split("<h2>Charts</h2>")[1]  # nothing external
    week = staff_client.get("/dashboard/?range=7d").content.decode()
    assert "Payments per day by status" in week


def test_the_dashboard_shows_a_fresh_install_warming_up(staff_client):
    now = timezone.now()
    until = datetime(2026, 3, 11, 9, 0, tzinfo=UTC)
    governance = rules.governance(
        [
            rules.Kpi("scheduler_uptime", 100.0, 99.0, warming_up_until=until),
            rules.Kpi("fraud_block_rate", 50.0, 10.0, False, warming_up_until=until),
        ],
        margin=2,
    )
    make_snapshot(
        taken_at=now,
        data={"ts_iso": "x", "system": {"cpu_percent": 1.0, "mem_percent": 1.0, "disk_percent": 1.0},
              "api": {"healthy": True, "latency_sec": 0.01}, "governance": governance,
              "health": {"overall": "healthy", "governance_status": governance["status"], "ops_warnings": []}},
    )  # fmt: skip
    html = staff_client.get("/dashboard/").content.decode()
    card = html.split("Governance<b", 1)[1].split("</div>", 1)[0]
    assert 'class="obs-warming_up">warming up</b>' in card
    assert "(first 24 hours, until 2026-03-11 09:00 UTC)" in card
    kpis = html.split("KPI (past 24 hours)", 1)[1].split("</table>", 1)[0]
    assert '<td>fraud block rate</td><td>50.0%</td><td>≤\u00a010%</td><td class="obs-warming_up"' in kpis
    assert "judged from 2026-03-11 09:00 UTC" in kpis and "failing" not in kpis  # the note, as the cell's title


def test_states_and_chart_legends_read_as_words_not_codes(staff_client):
    make_snapshot(
        taken_at=timezone.now(),
        data={"ts_iso": "x", "system": {}, "api": {"healthy": True, "latency_sec": 0.01},
              "health": {"overall": "degraded", "governance_status": "at_risk", "ops_warnings": []}},
    )  # fmt: skip
    make_email(status="dry_run")
    html = staff_client.get("/dashboard/").content.decode()
    card = html.split("Governance<b", 1)[1].split("</div>", 1)[0]
    assert 'class="obs-at_risk">at risk</b>' in card
    emails_chart = html.split("Emails per hour by status", 1)[1].split("</svg>", 1)[0]
    assert ">dry run</text>" in emails_chart
    assert "dry_run<" not in emails_chart


def test_the_admin_index_links_to_the_dashboard(staff_client):
    User.objects.filter(username="ops").update(is_superuser=True)
    assert 'href="/dashboard/"' in staff_client.get("/admin/").content.decode()


def test_the_dashboard_says_times_as_relative_with_the_moment_in_the_title_and_alert_values_in_plain_numbers(
    staff_client,
):
    now = timezone.now().replace(microsecond=0)
    started = now - timedelta(minutes=12, seconds=20)
    make_snapshot(
        taken_at=now - timedelta(minutes=12, seconds=20),
        data={"ts_iso": utc_iso(started), "system": {"cpu_percent": 1.0, "mem_percent": 1.0, "disk_percent": 1.0},
              "api": {"healthy": True, "latency_sec": 0.01},
              "health": {"overall": "healthy", "governance_status": "healthy", "ops_warnings": []}},
    )  # fmt: skip
    make_alert(
        "revenue_dip", fingerprint="eur", severity="warning", started_at=started, observed=-42.13, threshold=-30.0,
        summary="revenue EUR 522.17 in the past 24 h vs EUR 901.00 the day before (-42.1%)",
    )  # fmt: skip

    html = staff_client.get("/dashboard/").content.decode()

    moment = moment_format(started)
    snapshot_card = html.split("Snapshot<b>", 1)[1].split("</b>", 1)[0]
    assert snapshot_card == f'<time datetime="{started.isoformat()}" title="{moment}">12 min ago</time>'
    row = html.split("<td>revenue_dip/eur</td>", 1)[1].split("</tr>", 1)[0]
    assert f'<td><time datetime="{started.isoformat()}" title="{moment}">12 min ago</time></td>' in row
    assert "<td>-42.1%</td><td>-30%</td>" in row
    assert re.search(r"\(as of \d{4}-\d\d-\d\d \d\d:\d\d UTC\)", html)  # the page's time, in the one date style


def test_a_snapshot_is_named_in_the_one_date_style():
    assert (
        str(make_snapshot(taken_at=datetime(2026, 11, 29, 6, 4, 30, tzinfo=UTC))) == "snapshot at 2026-11-29 06:04 UTC"
    )
