"""The daily report: yesterday (UTC), delivered by email into a real local SMTP server."""

from datetime import timedelta
from decimal import Decimal

import pytest

from notifications.models import Email, Kind
from observability.services import daily_report_send
from tests.constants import NOW
from tests.factories import (
    make_alert,
    make_fraud_check,
    make_fraud_review,
    make_payment,
    make_snapshot,
    make_webhook_event,
    make_webhook_rejection,
)

pytestmark = pytest.mark.django_db
YESTERDAY = NOW - timedelta(days=1)


def seed():
    make_payment("pi_1", amount=Decimal("100.00"), created_at=YESTERDAY)
    make_payment("pi_2", amount=Decimal("50.50"), created_at=YESTERDAY)
    make_payment("pi_3", amount=Decimal("20.00"), currency="eur", created_at=YESTERDAY)
    make_payment("pi_4", status="failed", created_at=YESTERDAY)
    make_payment("pi_today", amount=Decimal("999.00"), created_at=NOW)  # not yesterday
    check = make_fraud_check(decision="review", reason="amount", rule="amount", created_at=YESTERDAY)
    make_fraud_review(fraud_check=check)
    make_alert(
        "webhook_failures", status="firing", severity="critical", summary="5 failed webhook events",
        observed=5, threshold=3, started_at=YESTERDAY, last_evaluated_at=NOW,
    )  # fmt: skip
    make_snapshot(
        taken_at=NOW, data={"ts_iso": "2026-03-10T12:00:00.000Z", "health": {
            "overall": "degraded", "governance_status": "healthy", "ops_warnings": ["disk 93% > 90%"]}},
    )  # fmt: skip


def test_the_report_arrives_in_the_smtp_inbox_with_yesterdays_figures(settings, smtp_server, on_commit):
    settings.REPORTS_TO = ["boss@example.com", "Ops@Example.COM"]
    seed()
    with on_commit(execute=True):
        summary = daily_report_send(now=NOW)
    assert summary.startswith("daily report for 2026-03-09: em_")
    [received] = smtp_server.messages
    message = received["message"]
    assert received["rcpt_tos"] == ["boss@example.com", "Ops@example.com"]
    assert message["Subject"] == "EchoPilot daily report 2026-03-09"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for expected in [
        "Payments: 4",
        "succeeded: 3",
        "Error rate (failed / finished): 25.0%",
        "USD 150.50",
        "EUR 20.00",
        "review 1",
        "Open reviews: 1",
        "firing critical webhook_failures: 5 failed webhook events",
        "System health: degraded",
        "disk 93% > 90%",
    ]:
        assert expected in text, expected
    assert "999" not in text
    assert "<b>USD 150.50</b>" in html
    assert Email.objects.get().kind == Kind.REPORT


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

    day = YESTERDAY.replace(hour=0)
    make_webhook_event(event_id="evt_1", type="t", status="invalid", received_at=day + timedelta(hours=1))
    make_webhook_rejection(reason="invalid_signature", minute=day + timedelta(hours=2), count=9000)
    make_webhook_rejection(reason="malformed_event", minute=day + timedelta(hours=3), count=2)
    make_webhook_rejection(reason="malformed_event", minute=day + timedelta(days=1), count=5)  # today
    summary = day_summary(since=day, until=day + timedelta(days=1))
    assert summary["webhooks"] == {"invalid": 1, "rejected": 9002}
