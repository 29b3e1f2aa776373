"""The admin site: apps in the order operators use them, "View site" to the dashboard, / and /favicon.ico."""

import re

import pytest

from tests.factories import make_user

pytestmark = pytest.mark.django_db


def apps_in(html: str, where: str) -> list[str]:
    """The app labels in the order the home page's app list (``content-main``) or the side menu shows them."""
    return re.findall(r'<div class="app-(\w+) module', html.split(where, 1)[1])


def test_fraud_guard_and_payments_come_first_and_users_and_groups_last(client):
    user = make_user("boss")
    user.is_superuser = True
    user.save()
    client.force_login(user)
    home = client.get("/admin/").content.decode()
    expected = [
        "fraud",
        "payments",
        "notifications",
        "portal",
        "observability",
        "echopilot",
        "auth",
        "axes",
        "django_q",
    ]
    assert apps_in(home, 'id="content-main"') == expected
    menu = client.get("/admin/fraud/fraudcheck/").content.decode()
    assert apps_in(menu, 'id="nav-sidebar"') == expected


def test_view_site_goes_to_the_dashboard_for_those_who_may_open_it(client):
    client.force_login(make_user("ops", permissions=["observability.view_dashboard"]))
    html = client.get("/admin/").content.decode()
    assert re.search(r'<a href="/dashboard/">View site</a>', html)
    assert client.get("/dashboard/").status_code == 200


def test_view_site_is_hidden_from_those_who_may_not(client):
    client.force_login(make_user("reviewer", permissions=["fraud.view_fraudreview"]))
    html = client.get("/admin/").content.decode()
    assert "View site" not in html
    assert client.get("/dashboard/").status_code == 403


def test_the_root_leads_to_the_admin_home(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/", follow=True).redirect_chain[-1] == ("/admin/login/?next=/admin/", 302)


def test_the_favicon_is_ours_and_every_page_links_it(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"].endswith("/echopilot/favicon.svg")
    assert b"<svg" in b"".join(client.get(response["Location"]).streaming_content)
    link = '<link rel="icon" href="/static/echopilot/favicon.svg" type="image/svg+xml">'
    assert link in client.get("/admin/login/").content.decode()
    assert link in client.get("/portal/").content.decode()  # the portal's own base template
    client.force_login(make_user("ops", permissions=["observability.view_dashboard"]))
    assert link in client.get("/dashboard/").content.decode()
