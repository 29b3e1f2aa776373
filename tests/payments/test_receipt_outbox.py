"""Recording a payment never depends on its receipt: the receipt is an outbox the task and the sweep empty."""

from datetime import timedelta

import pytest
from django.utils import timezone

import notifications.receivers
import notifications.services
import portal.services
from notifications.models import Email, ErrorType, Status
from notifications.tasks import email_sweep
from payments.models import Payment, WebhookEvent
from payments.signals import receipt_owed
from portal.models import PortalLink
from tests.payments import stripe_events as se

BURST = 80


@pytest.mark.slow
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


@pytest.mark.django_db(transaction=True)
def test_the_payment_is_recorded_when_the_receipt_task_fails_and_the_sweep_makes_up_for_it(
    deliver, smtp_server, monkeypatch, caplog
):
    real = notifications.services.receipt_send

    def broken(**kwargs):
        raise RuntimeError("receipts are down")

    monkeypatch.setattr(notifications.services, "receipt_send", broken)
    response = deliver(se.succeeded())
    assert (response.status_code, response.json()["outcome"]) == (200, "processed")
    payment = Payment.objects.get()
    assert payment.receipt_requested_at is not None and payment.receipt_owed
    assert not Email.objects.exists()
    # Logged here (tests run tasks in-process); a qcluster records it as a failed task as well.
    assert "receipts are down" in caplog.text
    monkeypatch.setattr(notifications.services, "receipt_send", real)
    assert email_sweep() == "email sweep: 1 receipt created"
    assert Email.objects.get().status == Status.SENT and len(smtp_server.messages) == 1
    assert not Payment.objects.get().receipt_owed


@pytest.mark.django_db(transaction=True)
def test_a_receipt_whose_enqueue_was_lost_is_created_and_sent_by_the_sweep(deliver, smtp_server, monkeypatch):
    def broker_down(*args, **kwargs):
        raise ConnectionError("the broker is down")

    monkeypatch.setattr(notifications.receivers, "async_task", broker_down)
    response = deliver(se.succeeded())
    assert (response.status_code, response.json()["outcome"]) == (200, "processed")
    payment = Payment.objects.get()
    assert payment.receipt_requested_at is not None and payment.receipt_owed and not Email.objects.exists()
    email_sweep()
    receipt = Email.objects.get()
    assert (receipt.payment, receipt.idempotency_key, receipt.status) == (payment, "receipt:pi_123", Status.SENT)
    assert "/portal?e=ada%40example.com&" in smtp_server.messages[0]["message"].get_body(("plain",)).get_content()
    email_sweep()
    assert Email.objects.count() == 1 and len(smtp_server.messages) == 1  # owed once, created once
    assert not Payment.objects.get().receipt_owed


@pytest.mark.django_db
def test_the_sweep_creates_only_receipts_that_are_owed(read_audit, django_capture_on_commit_callbacks):
    now = timezone.now()

    def pay(provider_id: str, *, email="ann@example.com", requested=now, owed=True):
        return Payment.objects.create(
            provider_id=provider_id,
            email=email,
            amount=1,
            status="succeeded",
            receipt_requested_at=requested,
            receipt_owed=owed and requested is not None,
        )

    owed = pay("pi_owed", requested=now - timedelta(days=6))
    pay("pi_never_claimed", requested=None)
    pay("pi_settled", owed=False)  # its email exists, or it had no address
    pay("pi_too_old", requested=now - timedelta(days=8))
    pay("pi_no_email", email="")
    pay("pi_bad_email", email="not-an-address")
    notifications.services.receipt_send(payment=pay("pi_has_one"))
    with django_capture_on_commit_callbacks(execute=True):
        assert email_sweep() == "email sweep: 1 receipt created, 2 receipt skipped"
        assert email_sweep() == "email sweep: nothing due"
    assert set(Email.objects.values_list("idempotency_key", flat=True)) == {"receipt:pi_owed", "receipt:pi_has_one"}
    assert Email.objects.get(idempotency_key="receipt:pi_owed").payment == owed
    skipped = [line["payment"] for line in read_audit("emails") if line["event"] == "receipt_skipped"]
    assert sorted(skipped) == ["pi_bad_email", "pi_no_email"]  # once each, not every minute
    assert set(Payment.objects.filter(receipt_owed=True).values_list("provider_id", flat=True)) == {"pi_too_old"}


@pytest.mark.django_db
def test_the_receipt_is_owed_in_the_webhooks_transaction_and_announced_after_it_commits(
    deliver, django_capture_on_commit_callbacks
):
    announced = []

    def listen(sender, *, payment_id, **kwargs):
        announced.append(payment_id)

    receipt_owed.connect(listen)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            deliver(se.succeeded())
        payment = Payment.objects.get()
        assert payment.receipt_owed and announced == [] and not Email.objects.exists()
        for callback in callbacks:
            callback()
    finally:
        receipt_owed.disconnect(listen)
    assert announced == [payment.pk]
    receipt = Email.objects.get()  # notifications' receiver enqueued its task (run in-process here)
    assert receipt.idempotency_key == "receipt:pi_123"
    payment.refresh_from_db()
    assert not payment.receipt_owed


@pytest.mark.django_db
def test_a_receipt_stops_being_owed_in_the_transaction_that_creates_its_email(monkeypatch):
    payment = Payment.objects.create(
        provider_id="pi_1", email="ann@example.com", amount=1, status="succeeded",
        receipt_requested_at=timezone.now(), receipt_owed=True,
    )  # fmt: skip

    def broken(*, payment):
        raise RuntimeError("the ledger is locked")

    monkeypatch.setattr(notifications.services, "payment_receipt_settle", broken)
    with pytest.raises(RuntimeError):
        notifications.services.receipt_send(payment=payment)
    assert not Email.objects.exists()  # the email rolled back with the failed settlement
    payment.refresh_from_db()
    assert payment.receipt_owed
    monkeypatch.undo()
    receipt = notifications.services.receipt_send(payment=payment)
    payment.refresh_from_db()
    assert receipt.idempotency_key == "receipt:pi_1" and not payment.receipt_owed
