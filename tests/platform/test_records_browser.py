"""Machine records in real Chromium: the check, payment and email lists fit 1366 px, a phone never pans, detail pages have no Save."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from notifications.models import Status
from tests.factories import make_email, make_fraud_check, make_payment, make_user, make_webhook_event
from tests.fixtures.browser import overflow, pans, shot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

LISTS = {
    "checks": "/admin/fraud/fraudcheck/",
    "payments": "/admin/payments/payment/",
    "emails": "/admin/notifications/email/",
}
RESULTS = "#changelist .results"
LONG_EMAIL = "maximilian.alexander.featherstonehaugh-wolfeschlegel@subdomain.example-company.co.uk"
LONG_ERROR = "SMTPRecipientsRefused: 550 5.1.1 <" + LONG_EMAIL + ">: Recipient address rejected: " + "x" * 300


def fill_the_lists() -> None:
    """Rows with the widest real values: long addresses, fingerprints, reasons, errors, large amounts."""
    for n in range(8):
        make_fraud_check(
            decision=["allow", "review", "block"][n % 3],
            email=f"{n}.{LONG_EMAIL}",
            amount=Decimal("99999999.99"),
            currency="usd",
            card_fingerprint="fp_a648a7dd06839eb9a648a7dd06839eb9",
            reason="daily_limit_exceeded_123456789.00",
            limit="10000",
            rule="daily_limit",
            created_at=datetime(2026, 11, 29, 6, 4, tzinfo=UTC),
        )
        make_payment(
            f"pi_0fd2e1657e94e7736ee5c119{n:04d}",
            email=f"{n}.{LONG_EMAIL}",
            amount=Decimal("99999999.99"),
            card_type="prepaid",
            card_fingerprint="fp_a648a7dd06839eb9a648a7dd06839eb9",
            status=["succeeded", "refunded", "failed"][n % 3],
        )
        make_email(
            to=[f"{n}.{LONG_EMAIL}", "ops-team-with-a-long-name@example.com", "grace@example.org"],
            subject="Your receipt for payment pi_0fd2e1657e94e7736ee5c119 of USD 99,999,999.99 — thank you " * 2,
            kind="receipt",
            status=[Status.FAILED, Status.DRY_RUN, Status.SENT][n % 3],
            attempts=n,
            last_error=LONG_ERROR,
        )


def test_the_record_lists_fit_the_desktop_and_never_pan_on_a_phone(staff_page):
    fill_the_lists()
    admin = make_user("root")
    admin.is_superuser = True
    admin.save()
    for name, path in LISTS.items():
        page = staff_page(admin, path)
        assert page.locator("#content-main .addlink").count() == 0  # no "Add" on a record list
        assert overflow(page, RESULTS) <= 0, f"the {name} list is wider than its box at 1366 px"
        assert not pans(page)
        shot(page, f"admin/records-{name}-desktop")
        page.context.close()

        page = staff_page(admin, path, viewport="phone")
        shot(page, f"admin/records-{name}-phone")
        assert not pans(page), f"the {name} list makes the page pan sideways at 390 px"
        if name != "payments":  # the ledger has no actions at all
            assert page.get_by_role("combobox", name="Action").bounding_box()["height"] >= 44
            assert page.get_by_role("button", name="Go").bounding_box()["height"] >= 44
        page.context.close()

    page = staff_page(admin, LISTS["emails"], dark=True)
    assert overflow(page, RESULTS) <= 0
    shot(page, "admin/records-emails-dark")
    page.context.close()


def test_a_record_is_a_detail_page_without_save_or_delete_and_fits_a_phone(staff_page):
    payment = make_payment("pi_7250", amount=Decimal("7250.00"), card_fingerprint="fp_a648a7dd06839eb9")
    webhook = make_webhook_event(
        {"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {"description": "x" * 400}}},
        status="failed",
        last_error=LONG_ERROR,
    )
    admin = make_user("root")
    admin.is_superuser = True
    admin.save()
    page = staff_page(admin, f"/admin/payments/payment/{payment.pk}/change/")
    assert page.get_by_text("USD 7,250.00").is_visible()
    for name in ("Save", "Save and continue editing", "Delete"):
        assert page.get_by_role("button", name=name, exact=True).count() == 0
        assert page.get_by_role("link", name=name, exact=True).count() == 0
    shot(page, "admin/records-payment-detail")
    page.context.close()

    page = staff_page(admin, f"/admin/payments/webhookevent/{webhook.pk}/change/", viewport="phone", dark=True)
    assert not pans(page), "the webhook event's detail page pans sideways at 390 px"
    shot(page, "admin/records-webhook-detail-phone-dark")
    page.context.close()
