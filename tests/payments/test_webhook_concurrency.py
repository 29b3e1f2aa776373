import threading

import pytest
from django.db import connection
from django.test import Client

from payments.models import Payment, WebhookEvent, WebhookRejection
from tests.constants import WEBHOOK_URL as URL
from tests.payments import stripe_events as se

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


@pytest.mark.slow
def test_refusals_at_once_are_all_counted_on_one_row_per_minute(read_audit):
    per_thread = 20
    barrier = threading.Barrier(THREADS)

    def junk():
        try:
            client = Client()
            barrier.wait()
            for _ in range(per_thread):
                assert client.post(URL, "{}", content_type="application/json").status_code == 400
        finally:
            connection.close()

    threads = [threading.Thread(target=junk) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = list(WebhookRejection.objects.values_list("count", flat=True))
    assert sum(counts) == THREADS * per_thread
    assert len(counts) <= 2  # one row per minute; two if the burst crossed a minute boundary
    lines = read_audit("payments")
    assert sorted(line["count"] for line in lines) == sorted(n for count in counts for n in (1, 10, 100) if n <= count)
