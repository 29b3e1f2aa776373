from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Count

from observability.services import weekly_audit
from payments.models import Payment, WebhookEvent

pytestmark = pytest.mark.django_db


def seed(*args) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_it_seeds_payments_events_and_customers():
    output = seed("--payments", "2000", "--days", "7", "--seed", "1", "--batch-size", "300")
    assert "seeded 2000 payments of 100 customers over 7 days" in output
    assert Payment.objects.count() == WebhookEvent.objects.count() == 2000
    assert Payment.objects.values("email").distinct().count() <= 100
    statuses = dict(Payment.objects.values_list("status").annotate(n=Count("id")))
    assert statuses["succeeded"] > 1700
    assert 20 < statuses["failed"] < 120
    assert 40 < statuses["refunded"] < 180
    assert Payment.objects.filter(card_type="prepaid").exists()
    assert all(p.amount.as_tuple().exponent == -2 and p.amount > 0 for p in Payment.objects.all()[:100])


def test_failed_events_leave_pending_payments_that_replay_fixes():
    seed("--payments", "3000", "--seed", "7")
    failed = WebhookEvent.objects.filter(status="failed").count()
    assert failed == Payment.objects.filter(status="pending").count() > 0
    call_command("replay_webhooks", stdout=StringIO(), stderr=StringIO())
    assert not Payment.objects.filter(status="pending").exists()
    assert not WebhookEvent.objects.filter(status="failed").exists()


class Undo(Exception):
    pass


def seeded_then_undone(seed_value: str) -> list[tuple]:
    """The payments one seed produces, rolled back afterwards."""
    try:
        with transaction.atomic():
            seed("--payments", "50", "--seed", seed_value)
            rows = list(Payment.objects.order_by("provider_id").values_list("provider_id", "email", "amount", "status"))
            raise Undo
    except Undo:
        return rows


def test_the_same_seed_gives_the_same_data():
    assert seeded_then_undone("3") == seeded_then_undone("3") != seeded_then_undone("4")


def test_the_same_seed_twice_is_refused_without_partial_rows():
    seed("--payments", "50", "--seed", "3")
    with pytest.raises(CommandError, match="another --seed"):
        seed("--payments", "60", "--seed", "3")
    assert Payment.objects.count() == 50


def test_seeded_events_have_their_audit_lines(read_audit, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        seed("--payments", "300", "--days", "6", "--seed", "5")
    lines = [line for line in read_audit("payments") if line["event"] == "demo_seeded"]
    assert sorted(line["event_id"] for line in lines) == sorted(WebhookEvent.objects.values_list("event_id", flat=True))
    found = weekly_audit()["streams"]["webhook_events"]
    assert (found["rows"], found["missing_in_log"], found["missing_in_db"]) == (300, 0, 0)
