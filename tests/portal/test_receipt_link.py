"""Receipt emails link to the portal with a fresh link for their customer."""

import re
from decimal import Decimal

import pytest

from notifications.services import send_payment_receipt
from portal.models import PortalLink
from tests.portal.conftest import CUSTOMER, make_payment, path_of

pytestmark = pytest.mark.django_db


def test_a_receipt_links_to_the_portal_of_its_customer(client):
    payment = make_payment("pi_1")
    receipt = send_payment_receipt("Ann@Example.com", payment.amount, payment.currency, "pi_1", payment=payment)
    [url] = re.findall(r"https?://\S+/portal\?\S+", receipt.body)
    assert f'href="{url.replace("&", "&amp;")}"' in receipt.html
    link = PortalLink.objects.get()
    assert (link.email, link.created_by) == (CUSTOMER, "system:receipt")
    assert client.get(path_of(url)).status_code == 302
    assert "pi_1" in client.get("/portal/").content.decode()


def test_a_repeated_receipt_request_issues_no_second_link():
    payment = make_payment("pi_1")
    send_payment_receipt(CUSTOMER, Decimal("1"), "usd", "pi_1", payment=payment)
    send_payment_receipt(CUSTOMER, Decimal("1"), "usd", "pi_1", payment=payment)
    assert PortalLink.objects.count() == 1
