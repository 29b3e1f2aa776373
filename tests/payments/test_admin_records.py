"""The ledger and the webhook records in the admin: read-only detail pages, money and times shown one way."""

import html
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from payments.models import Payment
from tests.factories import make_payment, make_webhook_event, make_webhook_rejection
from tests.payments import stripe_events as se

pytestmark = pytest.mark.django_db

PAYMENTS = "/admin/payments/payment/"
EVENTS = "/admin/payments/webhookevent/"
FORM_FIELDS = re.compile(r'<(?:select|textarea|input(?![^>]*type="hidden"))\b')
WHEN = datetime(2026, 11, 29, 6, 4, tzinfo=UTC)


def records():
    return {
        PAYMENTS: make_payment("pi_7250", amount=Decimal("7250.00"), created_at=WHEN),
        EVENTS: make_webhook_event(se.succeeded(), status="failed", last_error="boom"),
        "/admin/payments/webhookrejection/": make_webhook_rejection(),
    }


def test_a_payment_cannot_be_added_changed_or_deleted_even_by_a_superuser(admin_client):
    for url, record in records().items():
        page = admin_client.get(f"{url}{record.pk}/change/").text
        assert 'name="_save"' not in page and 'name="_continue"' not in page and "deletelink" not in page
        assert not FORM_FIELDS.findall(page.split('id="content-main"', 1)[1])
        assert admin_client.post(f"{url}{record.pk}/change/", {"email": "mallory@example.com"}).status_code == 403
        assert admin_client.post(f"{url}{record.pk}/delete/", {"post": "yes"}).status_code == 403
        assert admin_client.post(f"{url}add/", {"provider_id": "pi_forged"}).status_code == 403
        assert 'value="delete_selected"' not in admin_client.get(url).text
    payment = Payment.objects.get()
    assert (payment.email, payment.provider_id) == ("ann@example.com", "pi_7250")


def test_a_payment_shows_its_amount_status_card_and_times_one_way(admin_client):
    payment = make_payment(
        "pi_7250",
        amount=Decimal("7250.00"),
        card_type="prepaid",
        card_fingerprint="fp_a648a7dd06839eb9",
        status="refunded",
        created_at=WHEN,
        updated_at=WHEN,
    )
    make_payment("pi_yen", amount=Decimal("12000"), currency="jpy", created_at=WHEN)
    listing = admin_client.get(PAYMENTS).text
    assert "USD 7,250.00" in listing and "JPY 12,000" in listing and "7250.00" not in listing
    assert "2026-11-29 06:04 UTC" in listing and "Refunded" in listing and "Prepaid" in listing
    detail = admin_client.get(f"{PAYMENTS}{payment.pk}/change/").text
    assert "USD 7,250.00" in detail and "2026-11-29 06:04 UTC" in detail
    assert 'title="fp_a648a7dd06839eb9"' in listing  # the list cell shows its start, the title all of it
    assert ">fp_a648a7dd06839eb9<" in detail and ">Prepaid<" in detail


def test_hostile_text_in_a_payment_is_shown_escaped(admin_client):
    payment = make_payment("pi_x", failure_message='<img src=x onerror="alert(1)">', card_fingerprint="<b>fp</b>")
    page = admin_client.get(f"{PAYMENTS}{payment.pk}/change/").text
    assert "<img src=x" not in page and "<b>fp</b>" not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page


def test_a_webhook_payload_is_pretty_printed_and_its_error_cut_with_the_whole_in_a_title(admin_client):
    error = "Traceback: " + "KeyError('amount') " * 20
    webhook = make_webhook_event(se.succeeded(), status="failed", last_error=error)
    detail = html.unescape(admin_client.get(f"{EVENTS}{webhook.pk}/change/").text)
    assert '<pre class="record-json">{\n  "' in detail and '"id": "evt_ok"' in detail
    assert "{'id'" not in detail  # never a Python repr
    listing = admin_client.get(EVENTS).text
    assert f'title="{html.escape(error)}"' in listing
    assert "Traceback: KeyError(&#x27;amount&#x27;) " in listing and error not in html.unescape(listing).replace(
        f'title="{error}"', ""
    )


def test_reprocessing_says_which_events_and_how_each_went(admin_client):
    failed = make_webhook_event(se.succeeded(), status="failed", attempts=1)
    make_webhook_event(se.failed(), status="processed", attempts=1)
    response = admin_client.post(EVENTS, {"action": "reprocess", "_selected_action": [failed.pk]}, follow=True)
    assert "Reprocessed 1 failed event: evt_ok processed." in response.text
    response = admin_client.post(EVENTS, {"action": "reprocess", "_selected_action": [failed.pk]}, follow=True)
    assert "Nothing reprocessed. 1 other selected event left alone (not failed)." in response.text
