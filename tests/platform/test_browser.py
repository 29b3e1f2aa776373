"""Platform staff pages in real Chromium: nothing refused by the CSP, Swagger UI renders, API keys are copied."""

import pytest

from echopilot.models import ApiKey
from tests.factories import make_email, make_user
from tests.fixtures.browser import pans, shot

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
    email = make_email(html="<h1>Your receipt</h1><p>USD 25.00</p>")
    paths = [
        "/admin/",
        "/admin/echopilot/apikey/",
        "/admin/echopilot/apikey/add/",
        f"/admin/notifications/email/{email.pk}/change/",
        "/dashboard/",
        "/api/docs/",
    ]
    for viewport in ("desktop", "phone"):
        page = staff_page(user, "/admin/", viewport=viewport)
        problems = watch(page)
        for path in paths:
            response = page.goto(live_server.url + path)
            assert response.headers["content-security-policy"].startswith("default-src 'self'; script-src 'self';")
            if path == "/api/docs/":
                # Swagger UI ran: it fetched the schema and drew the operations and the Authorize button.
                page.get_by_text("/api/whoami").first.wait_for()
                assert page.get_by_role("button", name="Authorize").is_visible()
                # An operation opens with its summary, the Authorize hint and the README's body as its example.
                page.get_by_text("Decide whether a payment may go ahead").click()
                page.get_by_text('"alice@example.com"').first.wait_for()
                assert page.get_by_text(
                    "Try it out sends real requests to this server: first press Authorize"
                ).is_visible()
                shot(page, f"admin/docs-{viewport}")
            if "/email/" in path:
                # The HTML preview (a sandboxed srcdoc frame) still renders inside the policy.
                assert page.frame_locator("iframe").get_by_text("Your receipt").is_visible()
            assert page.evaluate("window.__violations") == [], path
        assert problems == []


def test_an_operator_creates_a_key_and_copies_it_on_desktop_and_phone_in_light_and_dark(staff_page, live_server):
    user = make_user("keeper", permissions=["echopilot.add_apikey", "echopilot.view_apikey"])
    for viewport, dark in (("desktop", False), ("phone", True), ("desktop", True), ("phone", False)):
        scheme = "dark" if dark else "light"
        name = f"billing-{viewport}-{scheme}"
        page = staff_page(user, "/admin/echopilot/apikey/add/", viewport=viewport, dark=dark)
        page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
        problems = watch(page)
        page.reload()
        assert page.get_by_text("Time zone: UTC").is_visible()
        assert page.get_by_text("The key is shown once").is_visible()
        assert not pans(page)
        shot(page, f"admin/keys-add-{viewport}-{scheme}")
        page.get_by_label("Name").fill(name)
        page.get_by_role("button", name="Save", exact=True).click()

        page.get_by_text("it will not be shown again").wait_for()
        key = page.get_by_label(f"Key “{name}”")
        raw = key.input_value()
        assert raw.startswith("ep_") and key.get_attribute("readonly") is not None
        copy = page.get_by_role("button", name="Copy key")
        assert copy.bounding_box()["height"] >= 44
        copy.click()
        page.get_by_role("button", name="Copied").wait_for()
        assert page.evaluate("navigator.clipboard.readText()") == raw
        assert page.get_by_role("status").inner_text() == "The key is on the clipboard."
        assert not pans(page)
        shot(page, f"admin/keys-created-{viewport}-{scheme}")
        assert ApiKey.objects.get(name=name).prefix == raw[:11]

        page.goto(live_server.url + "/admin/echopilot/apikey/?status=active")
        assert page.get_by_role("link", name=name).is_visible()
        shot(page, f"admin/keys-list-{viewport}-{scheme}")
        assert page.evaluate("window.__violations") == []
        assert problems == []
