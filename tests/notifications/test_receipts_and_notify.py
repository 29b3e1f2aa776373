"""Receipts for payments, and notify() for alerts and reports."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from notifications.models import Email, Kind, Status, TelegramMessage
from notifications.services import email_deliver_due, notify, receipt_send
from tests.factories import make_payment

pytestmark = pytest.mark.django_db


@pytest.fixture
def payment():
    return make_payment(
        "pi_123", email="ann@example.com", amount=Decimal("1200.00"), currency="jpy",
        created_at=datetime(2026, 3, 4, 5, 6, tzinfo=UTC),
    )  # fmt: skip


def test_a_receipt_shows_the_amount_payment_and_date_in_text_and_html(payment, smtp_server):
    receipt = receipt_send(payment=payment)
    assert (receipt.kind, receipt.to, receipt.payment, receipt.idempotency_key, receipt.portal_link_for) == (
        Kind.RECEIPT,
        ["ann@example.com"],
        payment,
        "receipt:pi_123",
        "ann@example.com",
    )
    assert receipt.subject == "Your receipt for JPY 1,200"
    email_deliver_due()
    message = smtp_server.messages[0]["message"]
    for part in ("plain", "html"):
        content = message.get_body((part,)).get_content()
        assert "JPY 1,200" in content
        assert "pi_123" in content
        assert "4 March 2026, 05:06 UTC" in content
        assert "/portal?e=ann%40example.com&" in content  # a fresh link to the customer portal


def test_a_second_receipt_request_for_the_same_payment_is_a_no_op(payment, smtp_server):
    first = receipt_send(payment=payment)
    second = receipt_send(payment=payment)
    assert first.pk == second.pk
    assert Email.objects.count() == 1
    email_deliver_due()
    receipt_send(payment=payment)
    assert email_deliver_due() == {}
    assert len(smtp_server.messages) == 1


@pytest.mark.parametrize("address", ["", "not-an-address"])
def test_a_payment_without_a_valid_address_gets_no_receipt(
    address, payment, read_audit, django_capture_on_commit_callbacks
):
    payment.email = address
    with django_capture_on_commit_callbacks(execute=True):
        assert receipt_send(payment=payment) is None
    assert Email.objects.count() == 0
    [line] = read_audit("emails")
    assert (line["event"], line["payment"], line["reason"]) == ("receipt_skipped", "pi_123", "no valid email address")


def test_receipt_values_are_escaped_in_the_html(smtp_server):
    payment = make_payment("pi_<b>", email="ann@example.com", amount=Decimal("1"))
    receipt_send(payment=payment)
    email_deliver_due()
    html = smtp_server.messages[0]["message"].get_body(("html",)).get_content()
    assert "pi_&lt;b&gt;" in html and "pi_<b>" not in html


def test_notify_writes_an_email_to_the_alert_recipients_and_a_telegram_message(settings, telegram_api, smtp_server):
    settings.ALERT_EMAIL_TO = ["ops@example.com", "Lead@Example.com"]
    notified = notify(kind="alert", subject="Refund\nspike", text="12 refunds in 5 minutes")
    assert notified.email.to == ["ops@example.com", "lead@example.com"]  # echopilot.emails: lowercase
    assert (notified.email.kind, notified.email.subject, notified.email.status) == ("alert", "Refund spike", "queued")
    [message] = notified.telegram
    assert message.text == "<b>Refund spike</b>\n12 refunds in 5 minutes"
    assert email_deliver_due() == {"sent": 1}


def test_notify_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        notify(kind="panic", subject="s", text="t")


def test_notify_takes_keywords_only():
    """Subject and text are both strings: by position they are too easy to swap."""
    with pytest.raises(TypeError):
        notify("alert", "Down", "The database is down.")


def test_notify_without_channels_records_dry_runs_only_for_telegram(settings):
    notified = notify(kind="report", subject="Daily report", text="All quiet.")
    assert notified.email is None
    assert [m.status for m in notified.telegram] == [Status.DRY_RUN]
    assert Email.objects.count() == 0


def test_notify_enqueues_delivery_on_commit(settings, telegram_api, smtp_server, django_capture_on_commit_callbacks):
    settings.ALERT_EMAIL_TO = ["ops@example.com"]
    with django_capture_on_commit_callbacks(execute=True):
        notify(kind="alert", subject="Down", text="The database is down.")
    assert Email.objects.get().status == Status.SENT
    assert TelegramMessage.objects.get().status == Status.SENT
    assert len(smtp_server.messages) == 1 and len(telegram_api.requests) == 1


def test_notify_puts_any_subject_on_one_header_safe_line(settings, smtp_server):
    settings.ALERT_EMAIL_TO = ["ops@example.com"]
    notified = notify(kind="alert", subject="Refund\x0bspike\x00 in \x1b[31musd\u2028\x85now", text="text")
    assert notified.email.subject == "Refund spike in [31musd now"
    assert email_deliver_due() == {"sent": 1}
    assert smtp_server.messages[0]["message"]["Subject"] == "Refund spike in [31musd now"
