"""The suppression list and a payment's receipt emails in real headless Chromium, at 1366×900 and 390×844, light
and dark: they fit without sideways scrolling. Screenshots: test-artifacts/admin/suppressions-*.png."""

import pytest

from notifications.models import Email, Status, Suppression
from tests.factories import make_payment, make_user
from tests.fixtures.browser import pans, shot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.mark.parametrize(("viewport", "dark"), [("desktop", False), ("phone", False), ("phone", True)])
def test_the_suppression_list_fits(staff_page, viewport, dark):
    Suppression.objects.create(
        address="a.very.long.address.that.bounced.every.time@mail.customer-domain.example",
        reason="bounced",
        provider="postmark",
        event_id="4323372036854775807",
        description="550 5.1.1 The email account that you tried to reach does not exist. " * 3,
    )
    Suppression.objects.create(address="angry@example.com", reason="complained", provider="postmark", event_id="2")
    user = make_user(permissions=["notifications.view_suppression", "notifications.delete_suppression"])
    page = staff_page(user, "/admin/notifications/suppression/", viewport=viewport, dark=dark)
    shot(page, f"admin/suppressions-{viewport}{'-dark' if dark else ''}")
    assert page.get_by_text("angry@example.com").is_visible()
    assert not pans(page)


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_a_payments_suppressed_receipt_shows_on_its_page(staff_page, viewport):
    payment = make_payment(email="dead@example.com")
    Email.objects.create(
        kind="receipt", to=["dead@example.com"], subject="Receipt", body="-", payment=payment,
        status=Status.SUPPRESSED, suppressed_to=["dead@example.com"],
    )  # fmt: skip
    user = make_user(permissions=["payments.view_payment", "notifications.view_email"])
    page = staff_page(user, f"/admin/payments/payment/{payment.pk}/change/", viewport=viewport)
    shot(page, f"admin/suppressions-payment-{viewport}")
    assert page.locator(".record-badge-suppressed").first.is_visible()
    assert not pans(page)


@pytest.mark.parametrize(("viewport", "dark"), [("desktop", False), ("phone", True)])
def test_the_telegram_updates_and_a_message_with_buttons_fit(staff_page, viewport, dark):
    from notifications.models import TelegramMessage, TelegramUpdate

    message = TelegramMessage.objects.create(
        chat_id="-1001234567890", kind="alert", status=Status.SENT, telegram_message_id=77,
        text="<b>webhook_failures firing</b>\n4 failed in 5 minutes\nAcknowledged by telegram:4242",
        buttons=[[["Silence 1 h", "silence_1h:12"]], [["Silence until 09:00 tomorrow", "silence_morning:12"]]],
    )  # fmt: skip
    for number, (outcome, reason) in enumerate(
        [("acted", ""), ("refused", "This user may not press our buttons."), ("ignored", "")]
    ):
        TelegramUpdate.objects.create(
            update_id=900000000 + number, kind="callback_query", chat_id="-1001234567890", user_id="4242",
            telegram_message_id=77, message=message, callback_data="ack:12", action="ack", target="12",
            by="telegram:4242", outcome=outcome, reason=reason, notice="Acknowledged.",
        )  # fmt: skip
    user = make_user(permissions=["notifications.view_telegramupdate", "notifications.view_telegrammessage"])
    for path, label in (
        ("/admin/notifications/telegramupdate/", "updates"),
        (f"/admin/notifications/telegrammessage/{message.pk}/change/", "message"),
    ):
        page = staff_page(user, path, viewport=viewport, dark=dark)
        shot(page, f"admin/telegram-{label}-{viewport}{'-dark' if dark else ''}")
        assert not pans(page), f"{path} scrolls sideways on {viewport}"
        page.close()
