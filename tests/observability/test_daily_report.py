"""The daily report: yesterday (UTC), delivered by email into a real local SMTP server."""

from datetime import timedelta
from decimal import Decimal

import pytest

from fraud.models import FraudCheck, FraudReview
from notifications.models import Email, Kind
from observability.models import Alert, Snapshot
from observability.reports import daily_report_send
from tests.constants import NOW
from tests.factories import make_email, make_payment

pytestmark = pytest.mark.django_db
YESTERDAY = NOW - timedelta(days=1)


def seed():
    make_payment("pi_1", amount=Decimal("1100.00"), created_at=YESTERDAY)
    make_payment("pi_2", amount=Decimal("50.50"), created_at=YESTERDAY)
    make_payment("pi_3", amount=Decimal("20.00"), currency="eur", created_at=YESTERDAY)
    make_payment("pi_4", status="failed", created_at=YESTERDAY)
    make_payment("pi_today", amount=Decimal("999.00"), created_at=NOW)  # not yesterday
    make_payment("pi_yen", amount=Decimal("1234567.00"), currency="jpy", created_at=YESTERDAY)
    make_email(status="dry_run", created_at=YESTERDAY)
    make_email(status="failed", created_at=YESTERDAY)
    check = FraudCheck.objects.create(
        email="a@example.com", amount=1, currency="usd", card_type="credit", card_key="k",
        decision="review", reason="amount", rule="amount", ruleset_version="v", created_at=YESTERDAY,
    )  # fmt: skip
    FraudReview.objects.create(fraud_check=check, opened_reason="rule")
    Alert.objects.create(
        rule="webhook_failures", status="firing", severity="critical", summary="5 failed webhook events",
        observed=5, threshold=3, started_at=YESTERDAY, last_evaluated_at=NOW,
    )  # fmt: skip
    Snapshot.objects.create(
        taken_at=NOW, data={"ts_iso": "2026-03-10T12:00:00.000Z", "health": {
            "overall": "degraded", "governance_status": "healthy", "ops_warnings": ["Disk 93% (threshold 90%)"]}},
    )  # fmt: skip


def test_the_report_arrives_in_the_smtp_inbox_with_yesterdays_figures(settings, smtp_server, on_commit):
    settings.REPORTS_TO = ["boss@example.com", "Ops@Example.COM"]
    seed()
    with on_commit(execute=True):
        summary = daily_report_send(now=NOW)
    assert summary.startswith("daily report for 2026-03-09: em_")
    [received] = smtp_server.messages
    message = received["message"]
    assert received["rcpt_tos"] == ["boss@example.com", "ops@example.com"]  # echopilot.emails: lowercase
    assert message["Subject"] == "EchoPilot daily report 2026-03-09"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for expected in [
        "Payments: 5",
        "succeeded: 4",
        "JPY 1,234,567",  # no decimals in yen
        "Error rate (failed / finished): 20.0%",
        "USD 1,150.50",  # echopilot.money: thousands separated
        "EUR 20.00",
        "review 1",
        "Open reviews: 1",
        "firing critical webhook_failures: 5 failed webhook events",
        "Dry run — SMTP not configured: 1",
        "Failed: 1",
        "System health: degraded (governance healthy, snapshot 2026-03-10 12:00 UTC)",
        "Disk 93% (threshold 90%)",
    ]:
        assert expected in text, expected
    assert "999" not in text
    assert "<b>USD 1,150.50</b>" in html and "Dry run — SMTP not configured: 1" in html
    assert Email.objects.get(kind=Kind.REPORT).subject == "EchoPilot daily report 2026-03-09"


def test_the_report_is_sent_once_per_day(settings, smtp_server, on_commit):
    settings.REPORTS_TO = ["boss@example.com"]
    with on_commit(execute=True):
        daily_report_send(now=NOW)
        assert daily_report_send(now=NOW + timedelta(hours=1)).endswith("(already sent)")
    assert len(smtp_server.messages) == 1


def test_without_recipients_the_report_is_skipped_and_says_so(on_commit, read_audit):
    with on_commit(execute=True):
        assert "skipped" in daily_report_send(now=NOW)
    assert not Email.objects.exists()
    assert read_audit("observability")[-1]["event"] == "daily_report_skipped"


def test_the_day_counts_refused_webhook_deliveries_with_the_events():
    from observability.selectors import day_summary
    from payments.models import WebhookEvent, WebhookRejection

    day = YESTERDAY.replace(hour=0)
    WebhookEvent.objects.create(event_id="evt_1", type="t", status="invalid", received_at=day + timedelta(hours=1))
    WebhookRejection.objects.create(reason="invalid_signature", minute=day + timedelta(hours=2), count=9000)
    WebhookRejection.objects.create(reason="malformed_event", minute=day + timedelta(hours=3), count=2)
    WebhookRejection.objects.create(reason="malformed_event", minute=day + timedelta(days=1), count=5)  # today
    summary = day_summary(since=day, until=day + timedelta(days=1))
    assert summary["webhooks"] == {"invalid": 1, "rejected": 9002}
