"""Migration payments 0002 cleans what was stored before amounts and emails were checked at the door."""

import importlib
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import connection

from observability.housekeeping import self_heal_run
from payments.models import Payment, WebhookEvent
from tests.factories import make_email, make_payment
from tests.payments import stripe_events as se

pytestmark = pytest.mark.django_db
migration = importlib.import_module("payments.migrations.0003_poison_input")


def stored(event: dict, status: str = "processed") -> WebhookEvent:
    return WebhookEvent.objects.create(event_id=event["id"], type=event["type"], payload=event, status=status)


def test_payments_above_the_maximum_are_removed_and_rebuilt_from_their_valid_events(api, admin_client):
    # Within the column on both databases, but above what Stripe can charge.
    receipt = make_email(payment=make_payment("pi_big", amount=Decimal("10000000.00")))
    big = stored(se.succeeded("evt_big", pi="pi_big", amount=1_000_000_000))
    # A real payment whose amount a later event overwrote with an impossible one.
    make_payment("pi_123", amount=Decimal("10000000.00"), status="refunded")
    good = stored(se.succeeded("evt_good"))
    bad_refund = stored(se.refunded("evt_bad_refund", amount=1_000_000_000))
    make_payment("pi_fine", amount=Decimal("999999.99"))
    make_payment("pi_yen", amount=Decimal("99999999.00"), currency="jpy")

    migration.clean_stored_payments(apps, connection.schema_editor())

    assert sorted(Payment.objects.values_list("provider_id", flat=True)) == ["pi_fine", "pi_yen"]
    receipt.refresh_from_db()
    assert receipt.payment is None  # the email stays
    for webhook, status in ((big, "invalid"), (bad_refund, "invalid"), (good, "failed")):
        webhook.refresh_from_db()
        assert webhook.status == status
    assert "above Stripe's maximum" in big.last_error
    assert self_heal_run()["webhooks"] == {"processed": 1}
    payment = Payment.objects.get(provider_id="pi_123")
    assert (payment.status, payment.amount) == ("succeeded", Decimal("49.99"))
    assert api.get("/api/payments").status_code == 200
    assert admin_client.get("/admin/payments/payment/").status_code == 200


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL refuses such an amount when it is written")
def test_an_amount_beyond_the_column_no_longer_breaks_every_read_on_sqlite(api, admin_client):
    make_payment("pi_huge", amount=Decimal("1000000000000.00"))
    make_payment("pi_fine")
    assert api.get("/api/payments").status_code == 500  # what rows from before the fix did
    migration.clean_stored_payments(apps, connection.schema_editor())
    assert [row["id"] for row in api.get("/api/payments").json()["results"]] == ["pi_fine"]
    assert admin_client.get("/admin/payments/payment/").status_code == 200


def test_emails_that_are_no_address_are_blanked():
    make_payment("pi_1", email='"a\x0bb"@example.com')
    make_payment("pi_2", email="not-an-address")
    make_payment("pi_3", email="ada@example.com")
    make_payment("pi_4", email="")
    migration.clean_stored_payments(apps, connection.schema_editor())
    assert dict(Payment.objects.values_list("provider_id", "email")) == {
        "pi_1": "",
        "pi_2": "",
        "pi_3": "ada@example.com",
        "pi_4": "",
    }
