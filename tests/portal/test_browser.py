"""The portal in a real browser (Debian's Chromium driven by Playwright) against a live server.

Screenshots of every page go to test-artifacts/portal/<viewport>-<page>.png.
Without /usr/bin/chromium the test skips, unless REQUIRE_BROWSER=1 (CI), where it fails.
"""

from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from notifications.models import Email
from payments.models import Payment
from portal.services import portal_link_create
from tests.constants import CUSTOMER
from tests.factories import make_payment
from tests.fixtures.browser import ARGS, CHROMIUM, chromium_or_skip
from tests.fixtures.portal import path_of

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "portal"
VIEWPORTS = {"mobile": {"width": 390, "height": 844}, "desktop": {"width": 1366, "height": 900}}


@pytest.fixture
def chromium():
    chromium_or_skip()
    from playwright.sync_api import sync_playwright

    return sync_playwright


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_customer_opens_the_link_sees_payments_resends_a_receipt_and_signs_out(
    chromium, live_server, tmp_path, viewport
):
    now = timezone.now()
    make_payment("pi_first", amount="49.00", created_at=now - timedelta(days=40))
    make_payment("pi_refund", amount="15.00", status=Payment.Status.REFUNDED, created_at=now - timedelta(days=9))
    make_payment("pi_declined", amount="99.99", status=Payment.Status.FAILED, created_at=now - timedelta(days=2))
    make_payment("pi_latest", amount="1234.50", created_at=now - timedelta(hours=3))
    make_payment("pi_yen", amount="1200", currency="jpy", created_at=now - timedelta(hours=1))
    make_payment("pi_someone_else", email="bob@example.com")
    _, url = portal_link_create(email=CUSTOMER, created_by="test")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    # Django's ORM is not used inside the block: Playwright's sync API runs an event loop in this thread.
    with chromium() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=ARGS, viewport=VIEWPORTS[viewport]
        )
        page = browser.new_page()

        def shot(name):
            page.screenshot(path=ARTIFACTS / f"{viewport}-{name}.png", full_page=True)

        page.goto(live_server.url + path_of(url))
        assert page.url == f"{live_server.url}/portal/"
        assert page.get_by_role("heading", name="Your payments").is_visible()
        table = page.locator("table.payments").inner_text()
        for text in ("JPY 1,200", "USD 1,234.50", "Failed", "Refunded", "USD 49.00"):
            assert text in table
        assert "pi_someone_else" not in page.content()
        assert page.get_by_role("link", name="Receipt").count() == 4
        assert page.evaluate("getComputedStyle(document.body).margin") == "0px"  # the stylesheet loaded
        shot("payments")

        page.get_by_role("link", name="Receipt").first.click()
        assert page.url == f"{live_server.url}/portal/receipts/pi_yen/"
        assert "JPY 1,200" in page.locator("article.receipt").inner_text()
        shot("receipt")

        page.get_by_role("button", name="Send me this receipt by email").click()
        assert page.url == f"{live_server.url}/portal/receipts/pi_yen/"
        assert page.get_by_text(f"We are sending this receipt to {CUSTOMER}.").is_visible()
        shot("receipt-sent")

        page.get_by_role("button", name="Sign out").click()
        assert page.get_by_role("heading", name="You are signed out").is_visible()
        shot("signed-out")

        page.goto(f"{live_server.url}/portal/")
        assert page.get_by_role("heading", name="This link is not valid any more — ask for a new one").is_visible()
        shot("invalid")
        browser.close()

    assert Email.objects.get().payment.provider_id == "pi_yen"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_admin_logged_in_in_the_same_browser_stays_logged_in(chromium, live_server, tmp_path):
    """The portal's own session: opening a link and signing out of the portal leave the admin's login alone."""
    User.objects.create_superuser("boss", "boss@example.com", "a long admin password")
    make_payment("pi_latest", amount="12.00", created_at=timezone.now() - timedelta(hours=3))
    _, url = portal_link_create(email=CUSTOMER, created_by="test")

    with chromium() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=ARGS, viewport=VIEWPORTS["desktop"]
        )
        page = browser.new_page()

        def admin_cookie():
            [cookie] = [c for c in browser.cookies() if c["name"] == "sessionid"]
            return cookie["value"], cookie["expires"]

        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", "boss")
        page.fill("#id_password", "a long admin password")
        page.click("input[type=submit]")
        assert page.url == f"{live_server.url}/admin/"
        before = admin_cookie()

        page.goto(live_server.url + path_of(url))
        assert page.get_by_role("heading", name="Your payments").is_visible()
        [portal] = [c for c in browser.cookies() if c["name"] == "portal_session"]
        assert portal["path"] == "/portal" and portal["httpOnly"]
        page.get_by_role("button", name="Sign out").click()
        assert page.get_by_role("heading", name="You are signed out").is_visible()
        assert not [c for c in browser.cookies() if c["name"] == "portal_session"]

        assert admin_cookie() == before  # the same session, expiring when it did
        page.goto(f"{live_server.url}/admin/")
        assert page.url == f"{live_server.url}/admin/"  # still logged in: no redirect to the login page
        assert page.get_by_role("heading", name="Operations").is_visible()
        browser.close()
