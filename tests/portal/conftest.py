"""The actors of the portal tests: a customer with payments, another customer, and links for them."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.contrib.sessions.backends.db import SessionStore

from payments.models import Payment
from portal.middleware import COOKIE_NAME
from portal.services import portal_link_create
from tests.notifications.conftest import smtp_server  # noqa: F401 - shared fixture (receipts)

CUSTOMER = "ann@example.com"
OTHER = "bob@example.com"
NOW = datetime(2026, 3, 4, 12, 30, tzinfo=UTC)


def path_of(url: str) -> str:
    """The path and query of a link URL, for the test client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def make_payment(provider_id: str, *, email: str = CUSTOMER, status=Payment.Status.SUCCEEDED, **fields) -> Payment:
    fields = {"amount": Decimal("12.50"), "currency": "usd", "created_at": NOW, **fields}
    return Payment.objects.create(provider_id=provider_id, email=email, status=status, **fields)


@pytest.fixture
def payments():
    """The customer's payments, oldest first: one of each status; and one of another customer."""
    made = [
        make_payment("pi_paid", amount=Decimal("1234.50"), created_at=NOW - timedelta(days=3)),
        make_payment("pi_refunded", status=Payment.Status.REFUNDED, created_at=NOW - timedelta(days=2)),
        make_payment("pi_failed", status=Payment.Status.FAILED, created_at=NOW - timedelta(days=1)),
        make_payment("pi_yen", amount=Decimal("1200"), currency="jpy", created_at=NOW),
    ]
    make_payment("pi_bob", email=OTHER)
    return made


@pytest.fixture
def issue():
    """Issue a link (now, by default): returns (link, path for the test client)."""

    def issue(email: str = CUSTOMER, **options):
        link, url = portal_link_create(email=email, created_by="test", **options)
        return link, path_of(url)

    return issue


@pytest.fixture
def signed_in(client, issue):
    """A test client with an open portal session for the customer; returns its link."""
    link, path = issue()
    assert client.get(path).status_code == 302
    return link


def portal_session(client) -> SessionStore:
    """The portal's own session of a test client (cookie portal_session); empty when it has none."""
    morsel = client.cookies.get(COOKIE_NAME)
    return SessionStore(morsel.value if morsel and morsel.value else None)


def form_post(client, path: str, **options):
    """POST as the portal's own forms do: with the session's form token."""
    return client.post(path, {"portal_token": portal_session(client).get("portal_form_token", "")}, **options)
