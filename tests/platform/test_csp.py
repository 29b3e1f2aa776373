"""The staff pages' Content-Security-Policy: no inline scripts anywhere in the admin, the dashboard and the API docs."""

import re

import pytest

from echopilot.middleware import STAFF_CSP
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def directives(header: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


def test_the_policy_allows_scripts_only_from_this_server():
    policy = directives(STAFF_CSP)
    assert policy["script-src"] == "'self'"
    assert policy["default-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"
    assert policy["base-uri"] == "'none'"


@pytest.mark.parametrize("path", ["/admin/", "/admin/echopilot/apikey/", "/dashboard/", "/api/docs/"])
def test_staff_pages_carry_the_policy(admin_client, path):
    response = admin_client.get(path)
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == STAFF_CSP


def test_the_login_page_error_pages_and_api_answers_carry_it_too(client, anon):
    assert client.get("/admin/login/").headers["Content-Security-Policy"] == STAFF_CSP
    assert client.get("/no-such-page").headers["Content-Security-Policy"] == STAFF_CSP
    assert anon.get("/api/whoami").headers["Content-Security-Policy"] == STAFF_CSP


def test_the_portal_keeps_its_own_stricter_policy(client):
    policy = directives(client.get("/portal/").headers["Content-Security-Policy"])
    assert policy["default-src"] == "'none'"
    assert "script-src" not in policy


def test_swagger_ui_starts_from_a_script_file_not_an_inline_script(client):
    client.force_login(make_user("staff", permissions=["echopilot.view_api_docs"]))
    html = client.get("/api/docs/").content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="' in attributes and not body.strip() for attributes, body in scripts)
    start = re.search(r'<script src="(/api/docs/\?[^"]*script=[^"]*)"', html).group(1).replace("&amp;", "&")
    script = client.get(start)
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in script.content.decode()
    assert '"validatorUrl": null' in script.content.decode()  # no badge loaded from validator.swagger.io
