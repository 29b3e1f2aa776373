"""Receipt emails link to the portal with a link created when they are handed to SMTP, never stored."""

import re

import pytest

from notifications.links import PORTAL_LINK_PLACEHOLDER
from notifications.models import Email, ErrorType, Status
from notifications.services import email_deliver_due, email_resend, email_send, receipt_send
from portal.models import PortalLink
from tests.constants import CUSTOMER
from tests.factories import make_payment
from tests.fixtures.portal import path_of

pytestmark = pytest.mark.django_db

LINK = re.compile(r"https?://[^\s\"<>]+/portal\?[^\s\"<>]+")


def delivered_links(message) -> tuple[list[str], list[str]]:
    """The portal links in the text and in the HTML part of a delivered message."""
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return LINK.findall(text), LINK.findall(html)


def test_a_receipt_links_to_the_portal_of_its_customer(client, smtp_server):
    payment = make_payment("pi_1", email="ann@example.com")
    receipt = receipt_send(payment=payment)
    assert PORTAL_LINK_PLACEHOLDER in receipt.body and not LINK.search(receipt.body + receipt.html)
    assert not PortalLink.objects.exists()  # nothing is issued until the email is sent
    assert email_deliver_due() == {"sent": 1}
    [text_url], [html_url] = delivered_links(smtp_server.messages[0]["message"])
    assert html_url == text_url.replace("&", "&amp;")  # the same link, escaped in the HTML
    link = PortalLink.objects.get()
    assert (link.email, link.created_by) == (CUSTOMER, f"task:email_deliver:{receipt.public_id}")
    assert client.get(path_of(text_url)).status_code == 302
    assert "pi_1" in client.get("/portal/").content.decode()
    receipt.refresh_from_db()
    assert receipt.status == Status.SENT and PORTAL_LINK_PLACEHOLDER in receipt.body  # the row still has no link


def test_a_repeated_receipt_request_issues_no_second_link(smtp_server):
    payment = make_payment("pi_1")
    receipt_send(payment=payment)
    receipt_send(payment=payment)
    email_deliver_due()
    assert PortalLink.objects.count() == 1 and len(smtp_server.messages) == 1


def test_each_send_of_a_receipt_gets_its_own_fresh_link(smtp_server):
    receipt = receipt_send(payment=make_payment("pi_1"))
    email_deliver_due()
    copy = email_resend(email=receipt, created_by="user:admin")  # the admin's "send again"
    assert copy.portal_link_for == CUSTOMER
    email_deliver_due()
    first, second = (delivered_links(m["message"])[0] for m in smtp_server.messages)
    assert first != second and PortalLink.objects.count() == 2


def test_a_manual_email_quoting_the_placeholder_gets_no_link(smtp_server):
    email_send(to=[CUSTOMER], subject="Hi", body=f"Look: {PORTAL_LINK_PLACEHOLDER}", html=PORTAL_LINK_PLACEHOLDER)
    assert email_deliver_due() == {"sent": 1}
    message = smtp_server.messages[0]["message"]
    assert PORTAL_LINK_PLACEHOLDER in message.get_body(("plain",)).get_content()
    assert not PortalLink.objects.exists()


def test_a_link_is_only_created_for_a_recipient_of_the_email(smtp_server):
    email, _ = email_send(
        to=["mallory@example.com"], subject="Hi", body=PORTAL_LINK_PLACEHOLDER, portal_link_for=CUSTOMER
    )
    assert email_deliver_due() == {"failed": 1}
    email.refresh_from_db()
    assert (email.status, email.error_type) == (Status.FAILED, ErrorType.PERMANENT)
    assert "not a recipient" in email.last_error
    assert not PortalLink.objects.exists() and smtp_server.messages == []


def test_a_link_that_cannot_be_created_fails_the_attempt_as_transient_and_is_retried(smtp_server, monkeypatch):
    import portal.services

    def broken(**kwargs):
        raise RuntimeError("the database said no")

    receipt = receipt_send(payment=make_payment("pi_1"))
    with monkeypatch.context() as patch:
        patch.setattr(portal.services, "portal_link_create", broken)
        assert email_deliver_due() == {"retry": 1}
    receipt.refresh_from_db()
    assert (receipt.status, receipt.error_type, receipt.attempts) == (Status.QUEUED, ErrorType.TRANSIENT, 1)
    assert receipt.last_error == "the portal link could not be created: RuntimeError: the database said no"
    assert smtp_server.messages == []  # never sent without its link
    Email.objects.filter(pk=receipt.pk).update(next_attempt_at=receipt.created_at)  # due again
    assert email_deliver_due() == {"sent": 1}
    assert delivered_links(smtp_server.messages[0]["message"])[0]
