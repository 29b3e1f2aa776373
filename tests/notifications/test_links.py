"""The link registry: without a registered minter a receipt waits (transient failure) instead of going out without its link."""

import pytest

import notifications.links
from notifications.links import PORTAL_LINK_PLACEHOLDER, mint_link
from notifications.models import ErrorType, Status
from notifications.services import email_deliver_due, email_send

pytestmark = pytest.mark.django_db


def test_the_portal_registers_its_minter_at_start_up():
    assert notifications.links._minter is not None


def test_without_a_minter_a_receipt_is_retried_and_says_why(smtp_server, monkeypatch):
    monkeypatch.setattr(notifications.links, "_minter", None)
    email, _ = email_send(
        to=["ann@example.com"], subject="Receipt", body=PORTAL_LINK_PLACEHOLDER, portal_link_for="ann@example.com"
    )
    assert mint_link(email) is None
    assert email_deliver_due() == {"retry": 1}
    email.refresh_from_db()
    assert (email.status, email.error_type) == (Status.QUEUED, ErrorType.TRANSIENT)
    assert email.last_error == "the portal link could not be created: no link minter is registered"
    assert smtp_server.messages == []
