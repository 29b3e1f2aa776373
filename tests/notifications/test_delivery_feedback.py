"""Bounces and complaints through the provider's tracking webhook (Postmark's documented payloads, via anymail).

A hard bounce or a complaint puts the address on the suppression list; mail to it is then recorded as
``suppressed`` and never reaches the SMTP stand-in. Forged, unconfigured and malformed calls write nothing.
"""

import base64
import json

import pytest
from rest_framework.test import APIClient

from notifications.models import DeliveryFeedback, Email, FeedbackOutcome, Status, Suppression
from notifications.services import email_deliver_due, email_send, receipt_send
from tests.constants import DASH_KEY
from tests.factories import make_email, make_payment

pytestmark = pytest.mark.django_db

URL = "/api/webhooks/email"
SECRET = "postmark:s3cret-Pa55"

# Postmark's documented samples (postmarkapp.com/developer/webhooks), the address changed.
HARD_BOUNCE = {
    "RecordType": "Bounce",
    "MessageStream": "outbound",
    "ID": 4323372036854775807,
    "Type": "HardBounce",
    "TypeCode": 1,
    "Name": "Hard bounce",
    "Tag": "Test",
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "Metadata": {"a_key": "a_value", "b_key": "b_value"},
    "ServerID": 23,
    "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
    "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
    "Email": "Dead@Example.com",
    "From": "ops@echopilot.ai",
    "BouncedAt": "2019-11-05T16:33:54.9070259Z",
    "DumpAvailable": True,
    "Inactive": True,
    "CanActivate": True,
    "Subject": "Your receipt",
    "Content": "Return-Path: <>",
}
SOFT_BOUNCE = {
    **HARD_BOUNCE,
    "ID": 4323372036854775808,
    "Type": "SoftBounce",
    "TypeCode": 4096,
    "Name": "Soft bounce",
    "Description": "Unable to temporarily deliver this email.",
    "Details": "smtp;452 4.2.2 Mailbox full",
    "Inactive": False,
}
COMPLAINT = {
    "RecordType": "SpamComplaint",
    "MessageStream": "outbound",
    "ID": 42,
    "Type": "SpamComplaint",
    "TypeCode": 512,
    "Name": "Spam complaint",
    "Tag": "Test",
    "MessageID": "00000000-0000-0000-0000-000000000000",
    "ServerID": 1234,
    "Description": "",
    "Details": "Test spam complaint details",
    "Email": "angry@example.com",
    "From": "ops@echopilot.ai",
    "BouncedAt": "2019-11-05T16:33:54.9070259Z",
    "DumpAvailable": True,
    "Inactive": True,
    "CanActivate": False,
    "Subject": "Your receipt",
}
DELIVERY = {
    "RecordType": "Delivery",
    "ServerID": 23,
    "MessageStream": "outbound",
    "MessageID": "00000000-0000-0000-0000-000000000000",
    "Recipient": "john@example.com",
    "Tag": "welcome-email",
    "DeliveredAt": "2021-02-21T16:34:52Z",
    "Details": "Test delivery webhook details",
    "Metadata": {"example": "value"},
}


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.EMAIL_WEBHOOK_PROVIDER = "postmark"
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": ""}


def post(payload, *, auth: str | None = SECRET, body: bytes | None = None, **headers):
    client = APIClient()
    if auth is not None:
        headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(auth.encode()).decode()
    data = body if body is not None else json.dumps(payload).encode()
    return client.post(URL, data=data, content_type="application/json", **headers)


def test_a_hard_bounce_suppresses_the_address_with_reason_and_date(read_audit, on_commit):
    with on_commit(execute=True):
        response = post(HARD_BOUNCE)
    assert (response.status_code, response.json()) == (200, {"ok": True, "received": 1})
    suppression = Suppression.objects.get()
    assert (suppression.address, suppression.reason, suppression.provider) == (
        "dead@example.com",
        "bounced",
        "postmark",
    )
    assert suppression.event_id == "4323372036854775807"
    assert "unknown user" in suppression.description and "5.1.1" in suppression.description
    assert suppression.created_at is not None
    feedback = DeliveryFeedback.objects.get()
    assert (feedback.event_type, feedback.outcome, feedback.recipient) == ("bounced", "suppressed", "dead@example.com")
    assert feedback.occurred_at.year == 2019
    events = read_audit("emails")
    assert [line["event"] for line in events] == ["feedback", "address_suppressed"]
    assert events[0]["event_id"] == "4323372036854775807" and events[0]["outcome"] == "suppressed"


def test_a_replayed_event_changes_nothing(read_audit, on_commit):
    with on_commit(execute=True):
        assert post(HARD_BOUNCE).status_code == 200
    Suppression.objects.update(description="kept")
    with on_commit(execute=True):
        assert post(HARD_BOUNCE).status_code == 200
    assert DeliveryFeedback.objects.count() == 1
    assert Suppression.objects.get().description == "kept"
    assert [line["event"] for line in read_audit("emails")] == ["feedback", "address_suppressed", "feedback_replayed"]


def test_a_complaint_suppresses_the_address():
    assert post(COMPLAINT).status_code == 200
    assert Suppression.objects.values_list("address", "reason").get() == ("angry@example.com", "complained")


def test_a_second_event_for_a_suppressed_address_is_recorded_as_already_suppressed():
    post(HARD_BOUNCE)
    post({**COMPLAINT, "Email": "dead@example.com"})
    assert Suppression.objects.values_list("reason", flat=True).get() == "bounced"
    assert DeliveryFeedback.objects.order_by("id").last().outcome == FeedbackOutcome.ALREADY


def test_a_soft_bounce_is_only_recorded_and_mail_to_the_address_goes_on(smtp_server):
    assert post(SOFT_BOUNCE).status_code == 200
    assert not Suppression.objects.exists()
    assert DeliveryFeedback.objects.get().outcome == FeedbackOutcome.RECORDED
    email, _ = email_send(to=["dead@example.com"], subject="Hi", body="Text.")
    assert email.status == Status.QUEUED
    assert email_deliver_due() == {"sent": 1}


def test_an_event_without_an_id_is_stored_once_by_its_digest():
    assert post(DELIVERY).status_code == 200
    assert post(DELIVERY).status_code == 200
    feedback = DeliveryFeedback.objects.get()
    assert feedback.event_id.startswith("sha256:") and feedback.event_type == "delivered"
    assert not Suppression.objects.exists()


def test_the_event_names_our_email_when_the_provider_kept_its_message_id():
    email = make_email(to=["dead@example.com"], message_id="<abc123@echopilot.ai>")
    post({**HARD_BOUNCE, "MessageID": "abc123@echopilot.ai"})
    assert DeliveryFeedback.objects.get().email == email


@pytest.mark.parametrize(
    "auth",
    [None, "postmark:wrong", "postmark", "", "POSTMARK:s3cret-Pa55", SECRET + "x"],
    ids=["none", "wrong-password", "no-password", "empty", "case", "longer"],
)
def test_forged_calls_are_refused_and_write_nothing(auth, read_audit, on_commit):
    with on_commit(execute=True):
        response = post(HARD_BOUNCE, auth=auth)
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert not DeliveryFeedback.objects.exists() and not Suppression.objects.exists()
    assert read_audit("emails") == []


def test_an_api_key_is_not_a_webhook_credential():
    assert post(HARD_BOUNCE, auth=None, HTTP_X_DASH_KEY=DASH_KEY).status_code == 401
    assert not Suppression.objects.exists()


@pytest.mark.parametrize("secret", ["", None])
def test_without_a_secret_every_call_is_refused(settings, secret):
    # anymail itself would accept anything (with a warning) when WEBHOOK_SECRET is empty.
    settings.ANYMAIL = {"WEBHOOK_SECRET": secret}
    for auth in (None, SECRET, ":"):
        response = post(HARD_BOUNCE, auth=auth)
        assert (response.status_code, response.json()["error"]) == (403, "webhook_not_configured")
    assert not DeliveryFeedback.objects.exists() and not Suppression.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'"a string"',
        b"[" * 100000 + b"]" * 100000,
        json.dumps({**HARD_BOUNCE, "BouncedAt": 12}).encode(),
    ],
    ids=["text", "not-utf8", "list", "string", "deep", "bad-time"],
)
def test_a_malformed_body_is_a_400_and_writes_nothing(body):
    response = post(None, body=body)
    assert (response.status_code, response.json()["error"]) == (400, "malformed_request")
    assert not DeliveryFeedback.objects.exists()


@pytest.mark.parametrize(
    "recipient",
    [{"a": 1}, ["dead@example.com"], "dead@example.com\r\nBcc: x@example.com", "x" * 5000, None, 12],
    ids=["object", "list", "header-injection", "huge", "null", "number"],
)
def test_a_strange_recipient_is_recorded_without_suppressing_anything(recipient):
    assert post({**HARD_BOUNCE, "Email": recipient}).status_code == 200
    assert not Suppression.objects.exists()
    assert len(DeliveryFeedback.objects.get().recipient) <= 254


# --- Mail to suppressed addresses ---------------------------------------------------------------


def test_mail_to_a_suppressed_address_is_recorded_as_suppressed_and_never_attempted(smtp_server, on_commit, read_audit):
    post(HARD_BOUNCE)
    with on_commit(execute=True) as callbacks:
        email, _ = email_send(to=["dead@example.com"], subject="Hi", body="Text.")
    assert len(callbacks) == 1  # the audit line only: no delivery enqueued
    assert (email.status, email.suppressed_to, email.attempts) == (Status.SUPPRESSED, ["dead@example.com"], 0)
    assert email_deliver_due() == {}
    assert smtp_server.messages == []
    assert read_audit("emails")[-1]["event"] == "suppressed"


def test_the_api_says_suppressed(api, smtp_server):
    post(COMPLAINT)
    response = api.post("/api/email/send", {"to": "angry@example.com", "subject": "Hi", "body": "x"}, format="json")
    assert (response.status_code, response.json()["status"]) == (200, "suppressed")
    detail = api.get(f"/api/email/{response.json()['id']}").json()["email"]
    assert detail["suppressed_to"] == ["angry@example.com"]


def test_only_the_suppressed_recipients_are_left_out(smtp_server):
    post(HARD_BOUNCE)
    email, _ = email_send(to=["dead@example.com", "alive@example.com"], subject="Hi", body="Text.")
    assert (email.status, email.suppressed_to) == (Status.QUEUED, ["dead@example.com"])
    assert email_deliver_due() == {"sent": 1}
    assert smtp_server.messages[0]["rcpt_tos"] == ["alive@example.com"]


def test_an_address_suppressed_after_queueing_is_not_attempted(smtp_server):
    email = make_email(to=["dead@example.com"])
    post(HARD_BOUNCE)
    assert email_deliver_due() == {"suppressed": 1}
    email.refresh_from_db()
    assert (email.status, email.attempts, email.suppressed_to) == (Status.SUPPRESSED, 0, ["dead@example.com"])
    assert smtp_server.messages == []


def test_a_receipt_to_a_suppressed_address_is_suppressed_and_shown_on_the_payment(smtp_server, staff_login):
    post(HARD_BOUNCE)
    payment = make_payment(email="dead@example.com", receipt_owed=True)
    receipt = receipt_send(payment=payment)
    assert receipt.status == Status.SUPPRESSED
    assert email_deliver_due() == {}
    assert smtp_server.messages == []
    page = staff_login("payments.view_payment").get(f"/admin/payments/payment/{payment.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert receipt.public_id in html and "record-badge-suppressed" in html
    assert "Suppressed — address on the suppression list" in html


def test_after_removal_mail_to_the_address_goes_again(smtp_server):
    from notifications.feedback import suppression_remove

    post(HARD_BOUNCE)
    suppression_remove(suppression=Suppression.objects.get(), by="user:ops")
    email, _ = email_send(to=["dead@example.com"], subject="Hi", body="Text.")
    assert email.status == Status.QUEUED
    assert email_deliver_due() == {"sent": 1}
    assert Email.objects.get().suppressed_to == []
