import threading

import pytest
from django.db import connection
from django.test import Client

from payments.models import Payment, WebhookEvent
from tests.payments import stripe_events as se
from tests.payments.conftest import URL

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


def deliver_at_once(payloads: list[str]) -> list[int]:
    """POST every payload from its own thread, all released at the same moment."""
    barrier = threading.Barrier(len(payloads))
    statuses = [None] * len(payloads)

    def post(index: int, payload: str):
        try:
            barrier.wait()
            response = Client().post(
                URL, payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=se.sign(payload)
            )
            statuses[index] = response.status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(index, payload)) for index, payload in enumerate(payloads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_the_same_event_delivered_at_once_is_processed_once(read_audit):
    statuses = deliver_at_once([se.body(se.succeeded())] * THREADS)
    assert statuses == [200] * THREADS
    webhook = WebhookEvent.objects.get()
    assert (webhook.status, webhook.attempts) == ("processed", 1)
    payment = Payment.objects.get()
    assert payment.status == Payment.Status.SUCCEEDED
    assert [line["event"] for line in read_audit("payments")] == ["receipt_requested", "webhook_processed"]


def test_different_events_for_one_payment_at_once_end_refunded():
    payloads = [se.body(se.succeeded()), se.body(se.failed()), se.body(se.refunded())] * 2
    # Every delivery may be the payment's first event: the racing inserts of the payment must not fail any of them.
    assert deliver_at_once(payloads) == [200] * len(payloads)
    assert Payment.objects.count() == 1
    assert Payment.objects.get().status == Payment.Status.REFUNDED
    assert sorted(WebhookEvent.objects.values_list("event_id", "status", "attempts")) == [
        ("evt_fail", "processed", 1),
        ("evt_ok", "processed", 1),
        ("evt_refund", "processed", 1),
    ]
