from io import StringIO

import pytest
from django.core.management import call_command
from django.db import OperationalError

from payments.models import Payment, WebhookEvent
from tests.factories import make_webhook_event
from tests.payments import stripe_events as se

pytestmark = pytest.mark.django_db


def replay(*args) -> str:
    out = StringIO()
    call_command("replay_webhooks", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_it_processes_failed_events_again():
    make_webhook_event(se.succeeded(), status="failed", attempts=2, last_error="OperationalError: database is locked")
    assert "replayed 1 failed event(s): 1 processed" in replay()
    assert Payment.objects.get().status == Payment.Status.SUCCEEDED
    webhook = WebhookEvent.objects.get()
    assert (webhook.status, webhook.attempts, webhook.last_error) == ("processed", 3, "")


def test_replaying_twice_changes_nothing_the_second_time():
    make_webhook_event(se.succeeded(), status="failed", attempts=1)
    replay()
    before = list(Payment.objects.values())
    assert "nothing to do" in replay()
    assert list(Payment.objects.values()) == before


def test_it_leaves_processed_and_rejected_events_alone():
    make_webhook_event(se.succeeded(), status="processed", attempts=1)
    make_webhook_event({"reason": "invalid_signature"}, status="rejected")
    assert "nothing to do" in replay()
    assert not Payment.objects.exists()


def test_it_filters_by_type():
    make_webhook_event(se.succeeded(), status="failed")
    make_webhook_event(se.refunded(pi="pi_other"), status="failed")
    assert "1 processed" in replay("--type", "charge.refunded")
    assert Payment.objects.get().provider_id == "pi_other"


def test_it_reports_events_that_fail_again(monkeypatch):
    def locked(facts):
        raise OperationalError("database is locked")

    monkeypatch.setattr("payments.services._payment_apply", locked)
    make_webhook_event(se.succeeded(), status="failed", attempts=1)
    assert "replayed 1 failed event(s): 1 failed" in replay()
    assert WebhookEvent.objects.get().attempts == 2


def test_an_event_that_can_never_be_processed_ends_invalid_and_is_not_replayed_again():
    make_webhook_event(se.succeeded(amount=-1), status="failed", attempts=1)
    assert "replayed 1 failed event(s): 1 invalid" in replay()
    webhook = WebhookEvent.objects.get()
    assert (webhook.status, webhook.attempts) == ("invalid", 2)
    assert "must not be negative" in webhook.last_error
    assert "nothing to do" in replay()
    assert not Payment.objects.exists()


def test_ignored_events_stay_ignored_while_their_type_has_no_handler():
    make_webhook_event(se.event("customer.created", {"id": "cus_1"}), status="ignored", attempts=1)
    assert "1 duplicate" in replay("--status", "ignored")
    assert WebhookEvent.objects.get().attempts == 1
