"""The admin of emails and Telegram messages."""

import html
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notifications.models import Email, Status
from tests.factories import make_email, make_payment, make_telegram_message

pytestmark = pytest.mark.django_db

EMAILS = "/admin/notifications/email/"


def test_emails_are_listed_filtered_and_searched(admin_client):
    make_email(to=["ann@example.com"], subject="Thanks-for-paying", status=Status.SENT)
    make_email(to=["bo@example.com"], subject="Refund-spike", status=Status.FAILED, last_error="550 no such user")
    page = admin_client.get(EMAILS, {"status__exact": "failed"}).content.decode()
    assert "Refund-spike" in page and "550 no such user" in page and "Thanks-for-paying" not in page
    page = admin_client.get(EMAILS, {"q": "ann@example"}).content.decode()
    assert "Thanks-for-paying" in page and "Refund-spike" not in page
    page = admin_client.get(EMAILS, {"q": "refund"}).content.decode()
    assert "Refund-spike" in page and "Thanks-for-paying" not in page


def test_the_html_body_is_previewed_in_a_sandbox_that_runs_and_loads_nothing(admin_client):
    body = '<p onclick="x()">Hi</p><script>alert(1)</script><img src="https://tracker.example/p.gif">'
    email = make_email(html=body)
    page = admin_client.get(f"{EMAILS}{email.pk}/change/").content.decode()
    assert "<script>alert(1)</script>" not in page
    assert '<iframe sandbox referrerpolicy="no-referrer" srcdoc="' in page
    srcdoc = page.split('srcdoc="', 1)[1].split('"', 1)[0]
    assert html.unescape(srcdoc).endswith(body)
    assert "default-src &#x27;none&#x27;" in srcdoc


def test_requeue_puts_failed_emails_back_with_fresh_attempts(admin_client):
    failed = make_email(status=Status.FAILED, attempts=5, last_error="boom", error_type="permanent")
    sent = make_email(status=Status.SENT, attempts=1)
    admin_client.post(EMAILS, {"action": "requeue", "_selected_action": [failed.pk, sent.pk]})
    failed.refresh_from_db()
    sent.refresh_from_db()
    assert (failed.status, failed.attempts, failed.last_error) == (Status.QUEUED, 0, "")
    assert sent.status == Status.SENT


def test_resend_creates_a_new_email_with_a_new_message_id(admin_client):
    original = make_email(status=Status.SENT, html="<p>x</p>")
    admin_client.post(EMAILS, {"action": "resend", "_selected_action": [original.pk]})
    copy = Email.objects.exclude(pk=original.pk).get()
    assert (copy.to, copy.subject, copy.body, copy.html) == (original.to, original.subject, original.body, "<p>x</p>")
    assert copy.message_id != original.message_id
    assert copy.created_by == "user:admin"
    assert copy.status == Status.DRY_RUN  # SMTP is not configured in this test


@pytest.mark.parametrize("count", [2, 6])
def test_resend_reads_the_payments_with_the_emails_not_one_query_each(admin_client, count):
    selected = [
        make_email(payment=make_payment(f"pi_{n}", email="ann@example.com", amount=Decimal("1"))).pk
        for n in range(count)
    ]
    with CaptureQueriesContext(connection) as queries:
        admin_client.post(EMAILS, {"action": "resend", "_selected_action": selected})
    payment_reads = [
        q["sql"] for q in queries if q["sql"].startswith("SELECT") and 'FROM "payments_payment"' in q["sql"]
    ]
    assert payment_reads == []  # joined into the action's one query of the selected emails
    assert set(Email.objects.exclude(pk__in=selected).values_list("payment__provider_id", flat=True)) == {
        f"pi_{n}" for n in range(count)
    }


def test_emails_cannot_be_added_or_edited(admin_client):
    email = make_email()
    assert admin_client.get(f"{EMAILS}add/").status_code == 403
    admin_client.post(f"{EMAILS}{email.pk}/change/", {"subject": "changed"})
    email.refresh_from_db()
    assert email.subject == "Hello"


def test_failed_telegram_messages_show_their_error_and_can_be_requeued(admin_client):
    message = make_telegram_message(
        status=Status.FAILED, attempts=1, last_error="HTTP 400: Bad Request: chat not found"
    )
    page = admin_client.get("/admin/notifications/telegrammessage/", {"status__exact": "failed"}).content.decode()
    assert "chat not found" in page
    admin_client.post("/admin/notifications/telegrammessage/", {"action": "requeue", "_selected_action": [message.pk]})
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.QUEUED, 0)


@pytest.mark.parametrize("action", ["requeue", "resend"])
def test_a_view_only_user_cannot_requeue_or_resend_emails(staff_login, action):
    email = make_email(status=Status.FAILED, attempts=5, last_error="boom")
    client = staff_login("notifications.view_email")
    page = client.get(EMAILS).content.decode()
    assert email.subject in page and f'value="{action}"' not in page
    assert client.post(EMAILS, {"action": action, "_selected_action": [email.pk], "index": "0"}).status_code == 403
    email.refresh_from_db()
    assert (email.status, Email.objects.count()) == (Status.FAILED, 1)


def test_resending_emails_needs_the_resend_permission(staff_login):
    email = make_email(status=Status.SENT)
    client = staff_login("notifications.view_email", "notifications.resend_email")
    assert 'value="resend"' in client.get(EMAILS).content.decode()
    client.post(EMAILS, {"action": "resend", "_selected_action": [email.pk], "index": "0"})
    assert Email.objects.count() == 2


def test_requeueing_telegram_messages_needs_the_requeue_permission(staff_login):
    message = make_telegram_message(status=Status.FAILED, attempts=1)
    url = "/admin/notifications/telegrammessage/"
    viewer = staff_login("notifications.view_telegrammessage", username="viewer")
    assert viewer.post(url, {"action": "requeue", "_selected_action": [message.pk], "index": "0"}).status_code == 403
    message.refresh_from_db()
    assert message.status == Status.FAILED
    permitted = staff_login("notifications.view_telegrammessage", "notifications.requeue_telegrammessage")
    permitted.post(url, {"action": "requeue", "_selected_action": [message.pk], "index": "0"})
    message.refresh_from_db()
    assert message.status == Status.QUEUED
