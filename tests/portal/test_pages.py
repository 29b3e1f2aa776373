"""The portal pages: payments, receipts, resending a receipt, signing out."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from notifications.links import PORTAL_LINK_PLACEHOLDER
from notifications.models import Email, Kind
from portal.middleware import portal_headers
from portal.selectors import portal_session_link
from portal.services import portal_email_revoke, portal_link_revoke
from tests.constants import CUSTOMER
from tests.constants import PORTAL_NOW as NOW
from tests.factories import make_payment
from tests.fixtures.portal import form_post, portal_session

pytestmark = pytest.mark.django_db


def test_without_a_session_the_portal_answers_the_invalid_page(client, payments):
    for response in (client.get("/portal/"), client.get("/portal/receipts/pi_paid/")):
        assert response.status_code == 403
        assert (
            "This link is not valid any more — ask for a new one" in response.content.decode()
            and b"pi_paid" not in response.content
        )


def test_it_lists_the_customers_payments_newest_first(client, signed_in, payments):
    html = client.get("/portal/").content.decode()
    positions = [html.index(p) for p in ("JPY 1,200", "Failed", "Refunded", "USD 1,234.50")]
    assert positions == sorted(positions)
    assert "3 Mar 2026, 12:30 UTC" in html and CUSTOMER in html
    assert "pi_bob" not in html


def test_only_succeeded_and_refunded_payments_link_a_receipt(client, signed_in, payments):
    html = client.get("/portal/").content.decode()
    for provider_id in ("pi_paid", "pi_refunded", "pi_yen"):
        assert f'href="/portal/receipts/{provider_id}/"' in html
    assert "/portal/receipts/pi_failed/" not in html


def test_it_pages_by_twenty(client, signed_in):
    for index in range(45):
        make_payment(f"pi_{index:02}", created_at=NOW + timedelta(minutes=index))
    first = client.get("/portal/").content.decode()
    assert first.count("<tr>") == 21 and "pi_44" in first and "Page 1 of 3" in first
    last = client.get("/portal/?page=3").content.decode()
    assert last.count("<tr>") == 6 and "pi_00" in last
    for odd in ("abc", "0", "-1", "999", "9" * 5000, "1.5"):
        assert client.get("/portal/", {"page": odd}).status_code == 200


def test_a_receipt_shows_the_payment(client, signed_in, payments):
    response = client.get("/portal/receipts/pi_paid/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "USD 1,234.50" in html and "pi_paid" in html and "1 March 2026, 12:30 UTC" in html
    assert 'action="/portal/receipts/pi_paid/send"' in html


@pytest.mark.parametrize("provider_id", ["pi_bob", "pi_failed", "pi_missing", "pi_paid%20"])
def test_another_customers_or_a_receiptless_payment_is_not_found(client, signed_in, payments, provider_id):
    response = client.get(f"/portal/receipts/{provider_id}/")
    assert response.status_code == 404 and b"Receipt not found" in response.content
    assert form_post(client, f"/portal/receipts/{provider_id}/send").status_code == 404
    assert Email.objects.count() == 0


def test_resending_queues_a_new_email_each_time(
    client, signed_in, payments, read_audit, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = form_post(client, "/portal/receipts/pi_paid/send")
        assert first.status_code == 302 and first["Location"] == "/portal/receipts/pi_paid/"
        assert f"We are sending this receipt to {CUSTOMER}" in client.get(first["Location"]).content.decode()
        form_post(client, "/portal/receipts/pi_paid/send")
    emails = Email.objects.all()
    assert len(emails) == 2 and len({e.message_id for e in emails}) == 2
    assert {(e.kind, e.payment.provider_id, tuple(e.to), e.created_by) for e in emails} == {
        (Kind.RECEIPT, "pi_paid", (CUSTOMER,), f"portal:{signed_in.public_id}")
    }
    assert "USD 1,234.50" in emails[0].body and PORTAL_LINK_PLACEHOLDER in emails[0].body
    assert {e.portal_link_for for e in emails} == {CUSTOMER}  # each gets a fresh link when it is sent
    assert [e["payment"] for e in read_audit("portal_links") if e["event"] == "receipt_resent"] == ["pi_paid"] * 2


def test_resending_is_limited_per_customer_per_hour(client, signed_in, payments, settings):
    settings.PORTAL_RESEND_PER_HOUR = 2
    for provider_id in ("pi_paid", "pi_refunded"):
        form_post(client, f"/portal/receipts/{provider_id}/send")
    response = form_post(client, "/portal/receipts/pi_yen/send", follow=True)
    assert "Please try again later" in response.content.decode()
    assert Email.objects.count() == 2


def test_resending_needs_post_and_the_form_token_of_the_session(client, signed_in, payments, issue):
    assert client.get("/portal/receipts/pi_paid/send").status_code == 405
    for token in (None, "", "forged", portal_session(client)["portal_form_token"] + "x"):
        data = {} if token is None else {"portal_token": token}
        refused = client.post("/portal/receipts/pi_paid/send", data)
        assert refused.status_code == 403 and refused["Cache-Control"] == "no-store"
    page = client.get("/portal/receipts/pi_paid/").content.decode()
    assert f'name="portal_token" value="{portal_session(client)["portal_form_token"]}"' in page
    assert form_post(client, "/portal/receipts/pi_paid/send").status_code == 302
    assert Email.objects.count() == 1


def test_another_session_has_another_form_token(client, signed_in, issue):
    other = Client()
    other.get(issue()[1])
    assert portal_session(other)["portal_form_token"] != portal_session(client)["portal_form_token"]
    stolen = other.post("/portal/sign-out", {"portal_token": portal_session(client)["portal_form_token"]})
    assert stolen.status_code == 403


def test_revoking_the_link_ends_its_session_at_once(client, signed_in, payments):
    assert client.get("/portal/").status_code == 200
    portal_link_revoke(link=signed_in, revoked_by="test")
    assert client.get("/portal/").status_code == 403
    assert "portal_email" not in portal_session(client)


def test_revoke_all_ends_the_session_too(client, signed_in, payments):
    portal_email_revoke(email=CUSTOMER, revoked_by="test")
    assert client.get("/portal/receipts/pi_paid/").status_code == 403


def test_the_session_ends_when_the_link_expires(signed_in):
    session = {
        "portal_email": CUSTOMER,
        "portal_link_id": signed_in.public_id,
        "portal_expires": int(signed_in.expires_at.timestamp()),
    }
    assert portal_session_link(session=session, now=signed_in.expires_at - timedelta(seconds=1)) == signed_in
    assert portal_session_link(session=session, now=signed_in.expires_at) is None
    assert portal_session_link(session={**session, "portal_email": "bob@example.com"}, now=timezone.now()) is None


def test_signing_out_ends_the_session(client, signed_in):
    response = form_post(client, "/portal/sign-out")
    assert response.status_code == 200 and b"You are signed out" in response.content
    assert client.get("/portal/").status_code == 403
    assert client.get("/portal/sign-out").status_code == 405


def test_pages_carry_the_portal_headers_and_load_nothing_from_elsewhere(client, signed_in, payments):
    for path in ("/portal/", "/portal/receipts/pi_paid/", "/portal/receipts/pi_bob/"):
        response = client.get(path)
        for name, value in portal_headers(path).items():
            assert response[name] == value
        assert response["Referrer-Policy"] == "no-referrer"
        html = response.content.decode()
        assert "<script" not in html and "style=" not in html and "http" not in html.split("<main>")[0]


def test_the_stylesheet_is_served(client):
    assert client.get("/static/portal/portal.css").status_code == 200
