import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from payments.models import Payment
from tests.factories import make_payment, make_webhook_event, make_webhook_rejection
from tests.payments import stripe_events as se

pytestmark = pytest.mark.django_db


def test_payment_list_filters_and_searches(admin_client):
    make_payment("pi_123", email="ada@example.com")
    make_payment("pi_456", email="grace@example.org", status="refunded", card_type="prepaid")
    response = admin_client.get(
        "/admin/payments/payment/", {"status__exact": "refunded", "card_type__exact": "prepaid"}
    )
    assert response.status_code == 200
    assert "pi_456" in response.text and "pi_123" not in response.text
    response = admin_client.get("/admin/payments/payment/", {"q": "Ada@Example.com"})
    assert "pi_123" in response.text and "pi_456" not in response.text
    response = admin_client.get("/admin/payments/payment/", {"q": "pi_456"})
    assert "pi_456" in response.text and "pi_123" not in response.text


def test_webhook_events_are_read_only(admin_client):
    webhook = make_webhook_event(event_id="evt_1", type="charge.refunded", status="processed")
    response = admin_client.get(f"/admin/payments/webhookevent/{webhook.pk}/change/")
    assert response.status_code == 200
    assert 'name="status"' not in response.text
    assert admin_client.get("/admin/payments/webhookevent/add/").status_code == 403
    response = admin_client.get(
        "/admin/payments/webhookevent/", {"status__exact": "processed", "type": "charge.refunded"}
    )
    assert "evt_1" in response.text


def test_the_reprocess_action_processes_failed_events_only(admin_client):
    failed = make_webhook_event(se.succeeded(), status="failed", attempts=1)
    processed = make_webhook_event(se.failed(), status="processed", attempts=1)
    response = admin_client.post(
        "/admin/payments/webhookevent/",
        {"action": "reprocess", "_selected_action": [failed.pk, processed.pk]},
        follow=True,
    )
    said = "Reprocessed 1 failed event: evt_ok processed. 1 other selected event left alone (not failed)."
    assert said in response.text
    assert Payment.objects.get().status == "succeeded"
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == ("processed", 2)


def test_payment_search_is_exact_and_skips_the_full_count(admin_client):
    make_payment("pi_plus", email="a+b@x.com")
    make_payment("pi_other", email="ab@x.com")
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get("/admin/payments/payment/?q=A%2Bb%40x.com")
    assert "pi_plus" in response.text and "pi_other" not in response.text
    assert all("WHERE" in q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"])
    assert "pi_plus" not in admin_client.get("/admin/payments/payment/", {"q": "a+b"}).text


def test_reprocessing_needs_the_reprocess_permission(staff_login):
    failed = make_webhook_event(se.succeeded(), status="failed", attempts=1)
    url = "/admin/payments/webhookevent/"
    viewer = staff_login("payments.view_webhookevent", username="viewer")
    page = viewer.get(url).content.decode()
    assert "evt_ok" in page and 'value="reprocess"' not in page
    assert viewer.post(url, {"action": "reprocess", "_selected_action": [failed.pk], "index": "0"}).status_code == 403
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, Payment.objects.count()) == ("failed", 1, 0)
    permitted = staff_login("payments.view_webhookevent", "payments.reprocess_webhookevent")
    assert 'value="reprocess"' in permitted.get(url).content.decode()
    permitted.post(url, {"action": "reprocess", "_selected_action": [failed.pk], "index": "0"})
    failed.refresh_from_db()
    assert failed.status == "processed"


def test_refused_deliveries_are_listed_with_their_counts(admin_client):

    make_webhook_rejection(reason="invalid_signature", count=1234)
    response = admin_client.get("/admin/payments/webhookrejection/")
    assert response.status_code == 200
    assert "1234" in response.text and "invalid_signature" in response.text
    assert admin_client.get("/admin/payments/webhookrejection/add/").status_code == 403


def test_invalid_events_can_be_filtered(admin_client):
    make_webhook_event(event_id="evt_bad", type="charge.refunded", status="invalid", last_error="why")
    response = admin_client.get("/admin/payments/webhookevent/", {"status__exact": "invalid"})
    assert "evt_bad" in response.text
