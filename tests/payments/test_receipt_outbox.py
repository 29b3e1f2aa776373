"""Recording a payment never depends on its receipt: the receipt is an outbox the task and the sweep empty."""

import pytest

import portal.services
from notifications.models import Email, ErrorType, Status
from payments.models import Payment, WebhookEvent
from portal.models import PortalLink
from tests.payments import stripe_events as se

BURST = 80


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_payments_for_one_email_is_all_recorded_and_every_receipt_delivered(deliver, smtp_server):
    statuses = [deliver(se.succeeded(f"evt_{n}", pi=f"pi_{n}")).status_code for n in range(BURST)]
    assert statuses == [200] * BURST
    assert Payment.objects.filter(email="ada@example.com", status="succeeded").count() == BURST
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert Email.objects.filter(kind="receipt", status=Status.SENT).count() == BURST
    assert len(smtp_server.messages) == BURST
    assert PortalLink.objects.filter(email="ada@example.com").count() == BURST  # one fresh link each


@pytest.mark.django_db(transaction=True)
def test_the_payment_is_recorded_when_its_portal_link_cannot_be_created(deliver, smtp_server, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("no link today")

    monkeypatch.setattr(portal.services, "portal_link_create", broken)
    response = deliver(se.succeeded())
    assert (response.status_code, response.json()["outcome"]) == (200, "processed")
    assert Payment.objects.get().status == "succeeded"
    receipt = Email.objects.get()  # the receipt waits for its link, retried and visible
    assert (receipt.status, receipt.error_type) == (Status.QUEUED, ErrorType.TRANSIENT)
    assert "no link today" in receipt.last_error
    assert smtp_server.messages == []
