"""0002: receipts stored before late-minted links lose their working link. 0005: existing receipts owed get the outbox flag."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from notifications.links import PORTAL_LINK_PLACEHOLDER

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("notifications", "0001_initial")]
AFTER = [("notifications", "0002_receipt_portal_link")]
URL = "http://127.0.0.1:8000/portal?e=ann%40example.com&exp=1796514604&sig=Ka0dxRxaJs_w6fGtWD7RR-KXaFfiuk7xBKQu351Rn1Q"


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture(autouse=True)
def _back_to_the_latest_schema():
    """Later tests need every migration applied, not just this one's target."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_stored_receipts_get_the_placeholder_instead_of_their_link():
    old = migrate(BEFORE).get_model("notifications", "Email")
    try:
        receipt = old.objects.create(
            to=["ann@example.com"],
            subject="Your receipt",
            body=f"Amount: USD 1.00\nYour payments and receipts: {URL}\n",
            html=f'<p><a href="{URL.replace("&", "&amp;")}">Your payments and receipts</a></p>',
            kind="receipt",
            message_id="<1@echopilot.ai>",
        )
        manual = old.objects.create(to=["bo@example.com"], subject="Hi", body="Plain.", message_id="<2@echopilot.ai>")
    finally:
        new = migrate(AFTER).get_model("notifications", "Email")
    receipt, manual = new.objects.get(pk=receipt.pk), new.objects.get(pk=manual.pk)
    assert receipt.body == f"Amount: USD 1.00\nYour payments and receipts: {PORTAL_LINK_PLACEHOLDER}\n"
    assert receipt.html == f'<p><a href="{PORTAL_LINK_PLACEHOLDER}">Your payments and receipts</a></p>'
    assert receipt.portal_link_for == "ann@example.com"
    assert (manual.body, manual.portal_link_for) == ("Plain.", "")


BEFORE_OUTBOX = [("notifications", "0004_idempotency_fingerprint"), ("payments", "0004_receipt_claimed_index")]
AFTER_OUTBOX = [("notifications", "0005_receipt_owed_backfill")]


def test_receipts_claimed_in_the_past_week_without_an_email_are_owed_after_the_migration():
    old = migrate(BEFORE_OUTBOX)
    Payment, Email = old.get_model("payments", "Payment"), old.get_model("notifications", "Email")
    now = timezone.now()

    def pay(provider_id, *, email="ann@example.com", requested=now - timedelta(days=6)):
        return Payment.objects.create(provider_id=provider_id, email=email, amount=1, receipt_requested_at=requested)

    try:
        pay("pi_owed")
        sent = pay("pi_sent")
        Email.objects.create(
            to=["ann@example.com"], subject="r", body="b", kind="receipt", payment=sent,
            idempotency_key="receipt:pi_sent", message_id="<1@echopilot.ai>",
        )  # fmt: skip
        resent_only = pay("pi_resent_only")  # a resend is no receipt: it has no receipt key
        Email.objects.create(
            to=["ann@example.com"], subject="r", body="b", kind="receipt", payment=resent_only,
            message_id="<2@echopilot.ai>",
        )  # fmt: skip
        pay("pi_too_old", requested=now - timedelta(days=8))
        pay("pi_no_email", email="")
        pay("pi_never_claimed", requested=None)
    finally:
        new = migrate(AFTER_OUTBOX).get_model("payments", "Payment")
    owed = set(new.objects.filter(receipt_owed=True).values_list("provider_id", flat=True))
    assert owed == {"pi_owed", "pi_resent_only"}
