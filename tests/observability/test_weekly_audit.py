"""The weekly audit: every row of the past week has its NDJSON line and every line its row."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from fraud.services import fraud_check_create
from notifications.services import email_send
from observability.housekeeping import audit_week_run
from observability.selectors import WEEKLY_AUDIT_KEY
from payments.models import WebhookEvent, WebhookRejection
from tests.payments.stripe_events import succeeded

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_rows(on_commit):
    """Rows written through the services, so each has its audit line."""
    from payments.services import webhook_event_process

    with on_commit(execute=True):
        checks = [
            fraud_check_create(email=f"c{n}@example.com", amount=Decimal("10.00"), created_by="test") for n in range(3)
        ]
        email, _ = email_send(to=["a@example.com"], subject="s", body="b")
        webhook_event_process(event=succeeded("evt_audit_1"))
    return checks, email


def remove_line(path, needle: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    kept = [line for line in lines if needle not in line]
    assert len(kept) == len(lines) - 1
    path.write_text("".join(kept))


def test_a_complete_log_has_no_discrepancies(logged_rows):
    result = audit_week_run()
    assert result["discrepancies"] == 0
    assert result["streams"]["fraud_checks"]["rows"] == 3
    assert result["streams"]["webhook_events"]["rows"] == 1


def test_a_deleted_log_line_is_named(logged_rows, log_dir, on_commit, read_audit):
    checks, email = logged_rows
    remove_line(log_dir / "fraud_guard.ndjson", checks[1].check_id)
    with on_commit(execute=True):
        result = audit_week_run()
    stream = result["streams"]["fraud_checks"]
    assert (stream["missing_in_log"], stream["examples_missing_in_log"]) == (1, [checks[1].check_id])
    assert result["discrepancies"] == 1
    assert read_audit("observability")[-1]["event"] == "weekly_audit"
    assert cache.get(WEEKLY_AUDIT_KEY)["discrepancies"] == 1  # kept for the snapshot's warning and the report


def test_a_row_deleted_from_the_database_is_named_and_rotated_files_are_read(logged_rows, log_dir):
    checks, email = logged_rows
    (log_dir / "emails.ndjson").rename(log_dir / "emails.ndjson.1")  # rotated: still read
    WebhookEvent.objects.filter(event_id="evt_audit_1").delete()
    result = audit_week_run()
    assert result["streams"]["emails"]["missing_in_log"] == 0
    assert result["streams"]["webhook_events"]["examples_missing_in_db"] == ["evt_audit_1"]


def test_rows_older_than_a_week_are_not_audited(logged_rows, log_dir):
    checks, _ = logged_rows
    remove_line(log_dir / "fraud_guard.ndjson", checks[0].check_id)
    assert audit_week_run(now=timezone.now() + timedelta(days=8))["streams"]["fraud_checks"]["rows"] == 0


def test_refused_deliveries_and_invalid_events_are_audited_too(logged_rows, on_commit, log_dir):
    from payments.services import webhook_event_process, webhook_reject

    with on_commit(execute=True):
        for _ in range(25):
            webhook_reject(reason="invalid_signature", detail="no signature", body=b"{}", content_type="text/plain")
        assert webhook_event_process(event=succeeded("evt_audit_bad", currency="xyz")) == "invalid"
    result = audit_week_run()
    assert result["discrepancies"] == 0
    assert result["streams"]["webhook_rejections"]["rows"] == len(WebhookRejection.objects.all())
    assert result["streams"]["webhook_events"]["rows"] == 2
    WebhookRejection.objects.all().delete()
    assert audit_week_run()["streams"]["webhook_rejections"]["missing_in_db"] >= 1
