"""Emails and Telegram messages in the admin: records, not forms; recipients, statuses and actions in plain words."""

import html
import re

import pytest

from notifications.models import Email, Status
from tests.factories import make_email, make_telegram_message

pytestmark = pytest.mark.django_db

EMAILS = "/admin/notifications/email/"
MESSAGES = "/admin/notifications/telegrammessage/"
FORM_FIELDS = re.compile(r'<(?:select|textarea|input(?![^>]*type="hidden"))\b')


def test_emails_and_telegram_messages_cannot_be_added_changed_or_deleted_even_by_a_superuser(admin_client):
    for url, record in ((EMAILS, make_email()), (MESSAGES, make_telegram_message())):
        page = admin_client.get(f"{url}{record.pk}/change/").text
        assert 'name="_save"' not in page and "deletelink" not in page
        assert not FORM_FIELDS.findall(page.split('id="content-main"', 1)[1])
        assert admin_client.post(f"{url}{record.pk}/change/", {"subject": "changed", "text": "x"}).status_code == 403
        assert admin_client.post(f"{url}{record.pk}/delete/", {"post": "yes"}).status_code == 403
        assert admin_client.post(f"{url}add/", {"subject": "forged"}).status_code == 403
        assert 'value="delete_selected"' not in admin_client.get(url).text
    assert Email.objects.get().subject == "Hello"


def test_recipients_read_as_a_list_not_json(admin_client):
    email = make_email(to=["a@x.com", "b@y.com"])
    listing = admin_client.get(EMAILS).text
    assert "a@x.com, b@y.com" in listing
    detail = admin_client.get(f"{EMAILS}{email.pk}/change/").text
    assert '<div class="record-line">a@x.com</div><div class="record-line">b@y.com</div>' in detail
    for page in (listing, detail):
        assert "[&quot;a@x.com" not in page and '["a@x.com' not in page


def test_the_list_says_kind_status_attempts_and_last_error_in_plain_words(admin_client):
    error = "SMTPRecipientsRefused: 550 5.1.1 <grace@example.org>: Recipient address rejected " + "x" * 200
    make_email(kind="receipt", status=Status.DRY_RUN, attempts=0)
    make_email(kind="alert", status=Status.FAILED, attempts=3, last_error=error)
    listing = admin_client.get(EMAILS).text
    assert "Dry run — SMTP not configured" in listing and ">Failed<" in listing and ">dry_run<" not in listing
    assert '<td class="field-kind">Receipt</td>' in listing and '<td class="field-attempts">3</td>' in listing
    assert f'title="{html.escape(error)}"' in listing  # the whole error on hover
    cell = listing.split('class="field-error"', 1)[1].split("</td>", 1)[0]
    assert "SMTPRecipientsRefused: 550 5.1.1" in cell and "x" * 100 not in cell.split(">", 2)[2]
    make_telegram_message(status=Status.DRY_RUN)
    assert "Dry run — Telegram not configured" in admin_client.get(MESSAGES).text


def test_hostile_subjects_and_errors_are_escaped(admin_client):
    email = make_email(subject="<script>alert(1)</script>", last_error="<img src=x onerror=alert(2)>\x1b[31m\x07")
    for page in (admin_client.get(EMAILS).text, admin_client.get(f"{EMAILS}{email.pk}/change/").text):
        assert "<script>alert(1)" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_requeue_and_resend_say_what_happened(admin_client):
    receipt = make_email(kind="receipt", to=["grace@example.org"], status=Status.FAILED, last_error="boom")
    alert = make_email(kind="alert", to=["ops@example.com", "cto@example.com"], status=Status.FAILED)
    sent = make_email(status=Status.SENT)
    selected = [receipt.pk, alert.pk, sent.pk]
    response = admin_client.post(EMAILS, {"action": "requeue", "_selected_action": selected}, follow=True)
    assert "Requeued 2 failed emails: " in response.text
    assert "receipt to grace@…" in response.text and "alert to ops@… +1" in response.text
    response = admin_client.post(EMAILS, {"action": "resend", "_selected_action": [sent.pk]}, follow=True)
    copy = Email.objects.latest("id")
    assert f"Created 1 new email: manual to ann@… ({copy.public_id})." in response.text
    message = make_telegram_message(status=Status.FAILED, kind="alert")
    response = admin_client.post(MESSAGES, {"action": "requeue", "_selected_action": [message.pk]}, follow=True)
    assert f"Requeued 1 failed Telegram message: alert {message.public_id}." in response.text
    response = admin_client.post(MESSAGES, {"action": "requeue", "_selected_action": [message.pk]}, follow=True)
    assert "Requeued 0 failed Telegram messages." in response.text
