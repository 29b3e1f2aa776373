"""POST /api/email/send and GET /api/email/<id>."""

import pytest

from notifications.models import Email
from notifications.serializers import EmailSendSerializer

pytestmark = pytest.mark.django_db

URL = "/api/email/send"
GOOD = {"to": "ann@example.com", "subject": "Hello", "body": "Plain text."}


def test_without_smtp_it_answers_the_dry_run_and_records_it(api, django_capture_on_commit_callbacks, read_audit):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api.post(URL, GOOD, format="json")
    assert response.status_code == 200
    email = Email.objects.get()
    assert response.json() == {
        "ok": True,
        "id": email.public_id,
        "status": "dry_run",
        "dry_run": True,
        "message": "SMTP not configured - email not sent",
    }
    assert email.public_id.startswith("em_")
    assert email.created_by == "key:DASHBOARD_KEY#1"
    assert len(callbacks) == 1  # the audit line; no delivery is enqueued
    [line] = read_audit("emails")
    assert line["event"] == "dry_run"
    assert line["id"] == email.public_id
    assert "body" not in line and "Plain text." not in str(line)


def test_with_smtp_it_answers_202_queued_and_delivers_after_commit(
    api, smtp_server, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post(URL, {**GOOD, "html": "<p>Hi</p>"}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["dry_run"], body["message"]) == ("queued", False, "Email queued for delivery.")
    assert smtp_server.messages == []  # nothing is sent before the row is committed
    for callback in callbacks:
        callback()
    assert len(smtp_server.messages) == 1
    detail = api.get(f"/api/email/{body['id']}")
    assert detail.status_code == 200
    assert detail.json()["email"]["status"] == "sent"
    assert detail.json()["email"]["to"] == ["ann@example.com"]


def test_the_same_idempotency_key_gives_the_same_email_and_sends_once(
    api, smtp_server, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = api.post(URL, GOOD, format="json", HTTP_IDEMPOTENCY_KEY="order-42")
    with django_capture_on_commit_callbacks(execute=True):
        second = api.post(URL, GOOD, format="json", HTTP_IDEMPOTENCY_KEY="order-42")
    assert first.json()["id"] == second.json()["id"]
    assert second.json()["status"] == "sent"
    assert Email.objects.count() == 1
    assert len(smtp_server.messages) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"subject": "Hello again"},
        {"body": "Other text."},
        {"to": ["ann@example.com", "bo@example.com"]},
        {"html": "<p>Plain text.</p>"},
    ],
    ids=["subject", "body", "to", "html"],
)
def test_a_reused_idempotency_key_with_another_request_is_a_409(api, change, read_audit):
    first = api.post(URL, GOOD, format="json", HTTP_IDEMPOTENCY_KEY="order-42")
    second = api.post(URL, {**GOOD, **change}, format="json", HTTP_IDEMPOTENCY_KEY="order-42")
    assert second.status_code == 409
    assert second.json() == {
        "ok": False,
        "error": "idempotency_key_reused",
        "message": "This Idempotency-Key was used with a different request; use a new key for a new email.",
    }
    [email] = Email.objects.all()
    assert (email.public_id, email.subject, email.body) == (first.json()["id"], "Hello", "Plain text.")
    third = api.post(URL, GOOD, format="json", HTTP_IDEMPOTENCY_KEY="order-42")
    assert (third.status_code, third.json()["id"]) == (200, first.json()["id"])


def test_the_same_request_written_differently_is_the_same_request(api):
    first = api.post(URL, GOOD, format="json", HTTP_IDEMPOTENCY_KEY="order-7")
    again = {**GOOD, "to": [" ann@EXAMPLE.com", "ann@example.com"], "html": ""}  # normalises to the same
    second = api.post(URL, again, format="json", HTTP_IDEMPOTENCY_KEY="order-7")
    assert (second.status_code, second.json()["id"]) == (200, first.json()["id"])


def test_an_email_stored_before_fingerprints_is_returned_for_its_key(api):
    first = api.post(URL, GOOD, format="json", HTTP_IDEMPOTENCY_KEY="old")
    Email.objects.update(request_fingerprint="")
    second = api.post(URL, {**GOOD, "subject": "Other"}, format="json", HTTP_IDEMPOTENCY_KEY="old")
    assert (second.status_code, second.json()["id"]) == (200, first.json()["id"])


def test_a_different_idempotency_key_is_another_email(api):
    api.post(URL, GOOD, format="json", HTTP_IDEMPOTENCY_KEY="a")
    api.post(URL, GOOD, format="json", HTTP_IDEMPOTENCY_KEY="b")
    assert Email.objects.count() == 2


def test_it_rejects_a_bad_idempotency_key(api):
    response = api.post(URL, GOOD, format="json", HTTP_IDEMPOTENCY_KEY="x" * 201)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["fields"]
    assert Email.objects.count() == 0


def test_it_normalises_and_deduplicates_recipients(api):
    """One form of an address everywhere (``echopilot.emails``): trimmed and lowercase, the local part too."""
    api.post(URL, {**GOOD, "to": [" Ann@Example.COM", "ann@example.com", "bo@x.io"]}, format="json")
    assert Email.objects.get().to == ["ann@example.com", "bo@x.io"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"to": "not-an-address"}, "to"),
        ({"to": ["ann@example.com", "bad@"]}, "to"),
        ({"to": []}, "to"),
        ({"to": "ann@example.com\r\nBcc: eve@example.com"}, "to"),
        ({"to": [f"user{i}@example.com" for i in range(51)]}, "to"),
        ({"subject": ""}, "subject"),
        ({"subject": "   "}, "subject"),
        ({"subject": "Hi\r\nBcc: eve@example.com"}, "subject"),
        ({"subject": "Hi\nthere"}, "subject"),
        ({"subject": "x" * 999}, "subject"),
        ({"body": ""}, "body"),
        ({"body": " \n "}, "body"),
        ({"html": ["<p>hi</p>"]}, "html"),
    ],
)
def test_it_rejects_bad_input_and_stores_nothing(api, change, field):
    response = api.post(URL, {**GOOD, **change}, format="json")
    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert response.json()["error"] == "validation_error"
    assert field in response.json()["fields"]
    assert Email.objects.count() == 0


@pytest.mark.parametrize("missing", ["to", "subject", "body"])
def test_it_rejects_a_missing_field(api, missing):
    response = api.post(URL, {k: v for k, v in GOOD.items() if k != missing}, format="json")
    assert response.status_code == 400
    assert missing in response.json()["fields"]
    assert Email.objects.count() == 0


def test_a_subject_of_998_characters_and_50_recipients_are_accepted(api):
    to = [f"user{i}@example.com" for i in range(50)]
    assert api.post(URL, {**GOOD, "to": to, "subject": "x" * 998}, format="json").status_code == 200


def test_a_body_over_1_mib_is_refused_and_nothing_stored(api):
    # The API refuses any request body over 1 MiB (413) before reading it;
    # the field limit applies to bodies reaching the serializer another way (send_email).
    response = api.post(URL, {**GOOD, "body": "x" * (1024 * 1024 + 1)}, format="json")
    assert response.status_code == 413
    assert Email.objects.count() == 0
    data = EmailSendSerializer(data={**GOOD, "body": "é" * (512 * 1024 + 1)})
    assert not data.is_valid()
    assert "bytes" in str(data.errors["body"])


def test_an_unknown_email_is_404(api):
    response = api.get("/api/email/em_000000000000000000000000")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_the_routes_are_documented_with_both_answers(api):
    paths = api.get("/api/schema/?format=json").json()["paths"]
    send = paths["/api/email/send"]["post"]
    assert {"200", "202", "400"} <= set(send["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in send["parameters"])
    assert "/api/email/{public_id}" in paths


# --- Subjects and addresses a mail header can carry ---------------------------------------------

CONTROL_CHARACTERS = [
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1d",
    "\x1e",
    "\x1f",
    "\x85",
    "\u2028",
    "\u2029",
    "\t",
    "\x7f",
    "\x9b",
    "\x01",
]


@pytest.mark.parametrize("char", CONTROL_CHARACTERS, ids=[f"U+{ord(c):04X}" for c in CONTROL_CHARACTERS])
def test_a_subject_with_any_control_character_is_a_400(api, char):
    response = api.post(URL, {**GOOD, "subject": f"Hi{char}Bcc: eve@example.com"}, format="json")
    assert response.status_code == 400
    assert response.json()["fields"]["subject"] == [
        f"Must not contain control characters or line breaks (found U+{ord(char):04X})."
    ]
    assert Email.objects.count() == 0


@pytest.mark.parametrize("address", ['"a\x0bb"@example.com', '"a\x1fb"@example.com', "ann@example.com\x85"])
def test_an_address_with_a_control_character_is_a_400(api, address):
    response = api.post(URL, {**GOOD, "to": address}, format="json")
    assert response.status_code == 400 and "to" in response.json()["fields"]
    assert Email.objects.count() == 0


def test_a_subject_with_format_characters_and_other_spaces_is_sent_as_written(
    api, smtp_server, django_capture_on_commit_callbacks
):
    subject = "Family \U0001f468\u200d\U0001f469\u200d\U0001f467 \u05e9\u05dc\u05d5\u05dd\u200f 10\u00a0\u20ac"
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(URL, {**GOOD, "subject": subject}, format="json")
    assert response.status_code == 202
    assert Email.objects.get().status == "sent"
    assert smtp_server.messages[0]["message"]["Subject"].strip() == subject  # folded after "Subject:"
