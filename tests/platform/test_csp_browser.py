"""The staff pages under their Content-Security-Policy in real Chromium: nothing refused, Swagger UI renders."""

import pytest

from tests.factories import make_user
from tests.fixtures.browser import shot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# The page's own record of what the policy refused (the event fires for every refused script, style, image...).
LISTEN = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
    e => window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "inline")));
"""


def watch(page) -> list[str]:
    """Collect, for every later load of ``page``, refusals by the policy and script errors."""
    problems = []
    page.on(
        "console",
        lambda m: m.type == "error" and "Content Security Policy" in m.text and problems.append(m.text),
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.context.add_init_script(LISTEN)
    return problems


def test_admin_dashboard_and_swagger_ui_run_under_the_policy_with_no_violation(staff_page, live_server):
    user = make_user("operator", permissions=["echopilot.view_api_docs", "echopilot.view_apikey"])
    user.is_superuser = True
    user.save()
    for viewport in ("desktop", "phone"):
        page = staff_page(user, "/admin/", viewport=viewport)
        problems = watch(page)
        for path in (
            "/admin/",
            "/admin/echopilot/apikey/",
            "/admin/echopilot/apikey/add/",
            "/dashboard/",
            "/api/docs/",
        ):
            response = page.goto(live_server.url + path)
            assert response.headers["content-security-policy"].startswith("default-src 'self'; script-src 'self';")
            if path == "/api/docs/":
                # Swagger UI ran: it fetched the schema and drew the operations and the Authorize button.
                page.get_by_text("/api/whoami").first.wait_for()
                assert page.get_by_role("button", name="Authorize").is_visible()
                assert page.get_by_text("Try it out").first.is_visible()
                shot(page, f"admin/docs-{viewport}")
            assert page.evaluate("window.__violations") == [], path
        assert problems == []
