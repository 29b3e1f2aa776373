"""Production alerts: state per rule, one message per evaluation, reminders, resolves, silences, no overlap."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from notifications.models import Email, Kind, Status, TelegramMessage
from observability.alerts import alerts_evaluate, evaluation_lock_acquire, evaluation_lock_release
from observability.models import Alert, EvaluationLock, Silence
from payments.models import WebhookEvent, WebhookRejection
from tests.constants import NOW
from tests.factories import make_payment, make_webhook_event

pytestmark = pytest.mark.django_db
MIN = timedelta(minutes=1)


def failed_webhooks(count: int, at, status=WebhookEvent.Status.FAILED):
    for n in range(count):
        make_webhook_event(
            event_id=f"evt_{at:%H%M}_{status}_{n}" if status != WebhookEvent.Status.REJECTED else "",
            type="payment_intent.succeeded",
            status=status,
            received_at=at,
        )


def refused(count: int, at, reason="invalid_signature"):
    minute = at.replace(second=0, microsecond=0)
    row, _ = WebhookRejection.objects.get_or_create(reason=reason, minute=minute, defaults={"first_at": at})
    WebhookRejection.objects.filter(pk=row.pk).update(count=row.count + count)


def alert_messages():
    return list(TelegramMessage.objects.filter(kind=Kind.ALERT).order_by("id").values_list("text", flat=True))


def test_a_burst_fires_once_reminds_after_four_hours_and_resolves_once_three_messages_in_all(on_commit):
    failed_webhooks(4, NOW - MIN)
    with on_commit(execute=True):
        first = alerts_evaluate(now=NOW)
    assert first.notified == ["firing:webhook_failures"]
    with on_commit(execute=True):
        for minutes in range(5, 240, 5):  # still firing for almost four hours: nothing more is sent
            failed_webhooks(4, NOW + timedelta(minutes=minutes) - MIN)
            assert alerts_evaluate(now=NOW + timedelta(minutes=minutes)).notified == []
        failed_webhooks(4, NOW + timedelta(hours=4) - MIN)
        assert alerts_evaluate(now=NOW + timedelta(hours=4)).notified == ["reminder:webhook_failures"]
        resolved = alerts_evaluate(now=NOW + timedelta(hours=4, minutes=10))
        assert alerts_evaluate(now=NOW + timedelta(hours=4, minutes=15)).notified == []
    assert resolved.notified == ["resolved:webhook_failures"]
    texts = alert_messages()
    assert len(texts) == 3
    assert "[FIRING] critical webhook_failures since 2026-03-10 12:00 UTC: 4 webhook events failed" in texts[0]
    assert "[STILL FIRING]" in texts[1]
    assert "[RESOLVED] critical webhook_failures at 2026-03-10 16:10 UTC" in texts[2]
    alert = Alert.objects.get(rule="webhook_failures")
    assert (alert.status, alert.started_at, alert.resolved_at) == (
        "resolved",
        NOW,
        NOW + timedelta(hours=4, minutes=10),
    )


def test_only_processing_failures_count_and_the_threshold_is_not_enough(on_commit):
    failed_webhooks(3, NOW - MIN)
    failed_webhooks(5, NOW - MIN, status=WebhookEvent.Status.INVALID)  # answered, never processable: no page
    failed_webhooks(5, NOW - MIN, status=WebhookEvent.Status.REJECTED)  # stored refusals from before counting
    refused(1000, NOW - MIN)  # anyone can send junk
    failed_webhooks(5, NOW - 6 * MIN)  # outside the 5-minute window
    assert "firing:webhook_failures" not in alerts_evaluate(now=NOW).notified
    failed_webhooks(1, NOW - 2 * MIN)
    assert "firing:webhook_failures" in alerts_evaluate(now=NOW).notified


def test_refused_deliveries_feed_their_own_warning(on_commit, settings):
    settings.ALERT_WEBHOOK_SIGNATURE_FAILURES = 20
    refused(15, NOW - 2 * MIN)
    refused(5, NOW - MIN, reason="unsupported_media_type")
    refused(500, NOW - 6 * MIN)  # outside the 5-minute window
    assert alerts_evaluate(now=NOW).notified == []
    refused(1, NOW, reason="malformed_event")
    assert alerts_evaluate(now=NOW).notified == ["firing:webhook_signature_failures"]
    alert = Alert.objects.get(rule="webhook_signature_failures")
    assert (alert.severity, alert.observed, alert.threshold) == ("warning", 21.0, 20.0)
    assert "21 webhook deliveries refused" in alert.summary
    assert not Alert.objects.filter(rule="webhook_failures").exists()
    assert alerts_evaluate(now=NOW + 10 * MIN).notified == ["resolved:webhook_signature_failures"]


def test_five_unsigned_posts_page_nobody(on_commit, client):
    for _ in range(5):
        assert client.post("/api/webhooks/stripe", "{}", content_type="application/json").status_code == 400
    assert alerts_evaluate().notified == []


def test_a_burst_reaches_telegram_and_email_as_one_message_per_alert(settings, on_commit, smtp_server, telegram_api):
    settings.ALERT_EMAIL_TO = ["ops@example.com"]
    failed_webhooks(10, NOW - MIN)
    for n in range(19):
        make_payment(f"pi_fail{n}", status="failed", created_at=NOW - 10 * MIN)
    make_payment("pi_ok", created_at=NOW - 10 * MIN)
    with on_commit(execute=True):
        evaluation = alerts_evaluate(now=NOW)
    assert sorted(evaluation.notified) == ["firing:payment_error_rate", "firing:webhook_failures"]
    # One message per alert, so that each one's buttons act on exactly that alert.
    assert len(telegram_api.requests) == 2
    assert sorted(request["body"]["text"].split("\n")[0] for request in telegram_api.requests) == [
        "<b>EchoPilot alert firing: payment_error_rate</b>",
        "<b>EchoPilot alert firing: webhook_failures</b>",
    ]
    assert sorted(message["message"]["Subject"] for message in smtp_server.messages) == [
        "EchoPilot alert firing: payment_error_rate",
        "EchoPilot alert firing: webhook_failures",
    ]
    assert set(Email.objects.filter(kind=Kind.ALERT).values_list("status", flat=True)) == {Status.SENT}


def test_payment_error_rate_waits_for_the_minimum_sample(on_commit):
    for n in range(19):
        make_payment(f"pi_f{n}", status="failed", created_at=NOW - 10 * MIN)
    assert alerts_evaluate(now=NOW).notified == []
    make_payment("pi_f19", status="failed", created_at=NOW - 10 * MIN)
    assert alerts_evaluate(now=NOW + MIN).notified == ["firing:payment_error_rate"]
    alert = Alert.objects.get(rule="payment_error_rate")
    assert (alert.observed, alert.threshold, alert.severity) == (100.0, 5.0, "critical")


def test_revenue_dip_is_a_warning_per_currency(on_commit):
    make_payment("pi_before", amount=Decimal("1000.00"), created_at=NOW - timedelta(hours=30))
    make_payment("pi_now", amount=Decimal("500.00"), created_at=NOW - timedelta(hours=2))
    make_payment("pi_eur", amount=Decimal("10.00"), currency="eur", created_at=NOW - timedelta(hours=2))
    evaluation = alerts_evaluate(now=NOW)
    assert evaluation.notified == ["firing:revenue_dip/usd"]
    alert = Alert.objects.get(rule="revenue_dip")
    assert (alert.fingerprint, alert.severity, alert.observed) == ("usd", "warning", -50.0)
    # Summed by the database (522.170000000000 on some), written by the one money formatter.
    assert alert.summary == "revenue USD 500.00 in the past 24 h vs USD 1,000.00 the day before (-50.0%)"


def test_a_silence_suppresses_messages_but_not_the_state(on_commit):
    Silence.objects.create(rule="webhook_failures", until=NOW + timedelta(hours=1), reason="provider incident")
    failed_webhooks(4, NOW - MIN)
    with on_commit(execute=True):
        assert alerts_evaluate(now=NOW).notified == []
        assert Alert.objects.get(rule="webhook_failures").status == "firing"
        failed_webhooks(4, NOW + timedelta(hours=1))
        # The silence is over and the alert still fires: now it is announced.
        assert alerts_evaluate(now=NOW + timedelta(hours=1, minutes=1)).notified == ["firing:webhook_failures"]
    assert len(alert_messages()) == 1


def test_a_second_evaluation_while_one_runs_is_skipped():
    token = evaluation_lock_acquire()
    assert token is not None
    failed_webhooks(4, NOW - MIN)
    second = alerts_evaluate(now=NOW)
    assert second.skipped and second.summary() == "alerts: skipped: already running"
    assert not Alert.objects.exists()
    evaluation_lock_release(token=token)
    assert alerts_evaluate(now=NOW).notified == ["firing:webhook_failures"]


def test_a_lease_left_by_a_crashed_evaluation_expires():
    EvaluationLock.objects.create(pk=1, locked_until=timezone.now() - timedelta(seconds=1), token="dead")
    assert not alerts_evaluate(now=NOW).skipped


def test_a_crash_during_evaluation_rolls_back_state_and_message(monkeypatch):
    failed_webhooks(4, NOW - MIN)

    def broken(*args, **kwargs):
        raise RuntimeError("telegram row could not be written")

    monkeypatch.setattr("observability.alerts.notify", broken)
    with pytest.raises(RuntimeError):
        alerts_evaluate(now=NOW)
    assert not Alert.objects.exists()
    assert EvaluationLock.objects.get(pk=1).locked_until is None  # released for the next run
    monkeypatch.undo()
    assert alerts_evaluate(now=NOW).notified == ["firing:webhook_failures"]


def test_state_changes_go_to_the_ndjson_and_the_latest_evaluation_to_json(on_commit, read_audit, log_dir):
    failed_webhooks(4, NOW - MIN)
    with on_commit(execute=True):
        alerts_evaluate(now=NOW)
        alerts_evaluate(now=NOW + 10 * MIN)
    events = read_audit("production_alerts")
    assert [(e["event"], e["rule"], e["notified"]) for e in events] == [
        ("alert_firing", "webhook_failures", True),
        ("alert_resolved", "webhook_failures", True),
    ]
    latest = json.loads((log_dir / "production_alerts.json").read_text())
    assert latest["changes"] == ["resolved:webhook_failures"]


def test_the_alerts_api_lists_current_and_recent_alerts(api, on_commit):
    failed_webhooks(4, timezone.now() - MIN)
    alerts_evaluate()
    body = api.get("/api/observability/alerts").json()
    assert body["ok"] is True and body["firing"] == 1
    assert body["results"][0]["rule"] == "webhook_failures"
    assert body["results"][0]["observed"] == 4.0


def test_an_alert_is_named_by_rule_and_fingerprint():
    alert = Alert(rule="revenue_dip", fingerprint="usd", status="firing")
    assert alert.name == "revenue_dip/usd" and str(alert) == "revenue_dip/usd firing"
    alert.fingerprint = ""
    assert alert.name == "revenue_dip" and str(alert) == "revenue_dip firing"
