"""/metrics: Prometheus text format through prometheus-client, behind X-Dash-Key or a bearer token."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from fraud.models import FraudCheck, FraudReview
from fraud.services import decision_tally_advance
from notifications.models import Status
from observability.models import Alert
from payments.models import WebhookEvent
from tests.factories import (
    make_alert,
    make_email,
    make_fraud_check,
    make_fraud_review,
    make_webhook_event,
    make_webhook_rejection,
)
from tests.fixtures.database import at_once

pytestmark = pytest.mark.django_db


def families(response) -> dict:
    return {family.name: family for family in text_string_to_metric_families(response.content.decode())}


def test_metrics_parse_and_carry_business_and_request_figures(client):
    make_fraud_check(decision="block")
    make_alert("webhook_failures", status="firing", severity="critical")
    make_email(status=Status.FAILED)
    make_email(status=Status.FAILED)
    make_email(status=Status.SENT)
    make_email(status=Status.FAILED, created_at=timezone.now() - timedelta(hours=25))  # outside the window
    client.get("/livez")
    found = families(client.get("/metrics", HTTP_X_DASH_KEY="test-dash-key-1"))
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in found.values() for s in f.samples}
    assert samples[("echopilot_fraud_decisions_24h", (("decision", "block"),))] == 1
    assert samples[("echopilot_alerts_firing", (("severity", "critical"),))] == 1
    assert ("echopilot_task_queue_depth", ()) in samples
    assert samples[("echopilot_emails_24h", (("status", "failed"),))] == 2
    assert samples[("echopilot_emails_24h", (("status", "sent"),))] == 1
    livez = ("echopilot_http_requests_total", (("method", "GET"), ("route", "livez"), ("status", "200")))
    assert samples[livez] >= 1
    assert "echopilot_http_request_duration_seconds" in found


def test_metrics_refuse_anonymous_and_wrong_credentials(client, settings):
    settings.METRICS_TOKEN = "scrape-token-123"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_X_DASH_KEY="wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong-token").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token-123").status_code == 200


def test_without_any_configured_credential_metrics_are_refused(client, settings):
    settings.METRICS_TOKEN = ""
    settings.DASHBOARD_KEYS = []
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401
    assert client.get("/metrics", HTTP_X_DASH_KEY="test-dash-key-1").status_code == 401


def test_with_the_broker_down_the_queue_gauge_is_absent(client, monkeypatch):
    def down():
        raise ConnectionError("redis is down")

    monkeypatch.setattr("observability.selectors.get_broker", down)
    found = families(client.get("/metrics", HTTP_X_DASH_KEY="test-dash-key-1"))
    assert "echopilot_task_queue_depth" not in found and "echopilot_alerts_firing" in found


def samples_of(response) -> dict:
    found = families(response)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in found.values() for s in f.samples}


def scrape(client) -> dict:
    return samples_of(client.get("/metrics", HTTP_X_DASH_KEY="test-dash-key-1"))


def decisions(samples: dict) -> dict:
    return {
        (dict(labels)["rule"], dict(labels)["outcome"]): value
        for (name, labels), value in samples.items()
        if name == "echopilot_fraud_decisions_total"
    }


def test_fraud_decisions_total_counts_each_settled_check_once_by_rule_and_outcome(client):
    before = timezone.now() - timedelta(minutes=1)
    make_fraud_check(decision="allow", rule="default", created_at=before)  # stored before the first scrape
    assert decisions(scrape(client)) == {}  # the counter starts at the first scrape
    for _ in range(3):
        make_fraud_check(decision="block", rule="max_per_hour", created_at=before)
    make_fraud_check(decision="review", rule="daily_total", created_at=before)
    make_fraud_check(decision="allow", rule="default", created_at=timezone.now())  # may not have committed yet
    expected = {("daily_total", "review"): 1, ("max_per_hour", "block"): 3}
    assert decisions(scrape(client)) == expected
    assert decisions(scrape(client)) == expected  # a second scrape adds nothing


def test_the_tally_waits_for_young_checks_and_never_recounts_deleted_ones():
    now = timezone.now()
    assert decision_tally_advance(now=now) == {}
    young = make_fraud_check(decision="block", rule="blocklist", created_at=now)
    assert decision_tally_advance(now=now) == {}
    assert decision_tally_advance(now=now + timedelta(seconds=31)) == {("blocklist", "block"): 1}
    young.delete()  # retention
    make_fraud_check(decision="block", rule="blocklist", created_at=now)
    assert decision_tally_advance(now=now + timedelta(minutes=1)) == {("blocklist", "block"): 2}


def test_the_tally_counts_a_long_backlog_in_bounded_steps():
    now = timezone.now()
    decision_tally_advance(now=now)
    for _ in range(5):
        make_fraud_check(decision="allow", rule="default", created_at=now)
    later = now + timedelta(minutes=1)
    totals = [decision_tally_advance(now=later, batch=2)[("default", "allow")] for _ in range(3)]
    assert totals == [2, 4, 5]


def test_the_tally_steps_over_a_gap_in_the_ids_wider_than_a_batch():
    now = timezone.now()
    decision_tally_advance(now=now)
    first = make_fraud_check(decision="allow", rule="default", created_at=now)
    FraudCheck.objects.filter(pk=first.pk).update(id=first.pk + 10)  # as if ten inserts had rolled back
    assert decision_tally_advance(now=now + timedelta(minutes=1), batch=5) == {("default", "allow"): 1}


def test_reviews_emails_webhooks_and_alerts_are_counted_from_their_rows(client):
    now = timezone.now()
    make_fraud_review(opened_at=now - timedelta(minutes=30), fraud_check=make_fraud_check(decision="review"))
    make_fraud_review(opened_at=now - timedelta(minutes=5), fraud_check=make_fraud_check(decision="review"))
    make_fraud_review(
        opened_at=now - timedelta(days=3), state=FraudReview.State.APPROVED, fraud_check=make_fraud_check()
    )
    make_email(status=Status.QUEUED)
    make_email(status=Status.SUPPRESSED)
    make_webhook_event({"id": "evt_1", "type": "charge.succeeded"})
    make_webhook_event({"id": "evt_2", "type": "charge.succeeded"}, status=WebhookEvent.Status.FAILED)
    make_webhook_event(
        {"id": "evt_3", "type": "charge.succeeded"},
        status=WebhookEvent.Status.FAILED,
        received_at=now - timedelta(hours=2),
    )
    make_webhook_rejection(count=4)
    make_webhook_rejection(count=9, minute=(now - timedelta(hours=25)).replace(second=0, microsecond=0))
    make_alert("webhook_failures", status=Alert.Status.FIRING)
    make_alert("disk", status=Alert.Status.RESOLVED, resolved_at=now)
    samples = scrape(client)
    assert samples[("echopilot_fraud_reviews_open", ())] == 2
    assert 30 * 60 <= samples[("echopilot_fraud_review_oldest_open_age_seconds", ())] < 40 * 60
    assert samples[("echopilot_emails_24h", (("status", "suppressed"),))] == 1
    assert samples[("echopilot_emails_24h", (("status", "dry_run"),))] == 0  # every status, rows or not
    assert samples[("echopilot_emails_queued", ())] == 1
    assert samples[("echopilot_webhook_events_24h", (("status", "failed"),))] == 2
    assert samples[("echopilot_webhook_events_24h", (("status", "processed"),))] == 1
    assert samples[("echopilot_webhook_events_failed", ())] == 2
    assert 2 * 3600 <= samples[("echopilot_webhook_processing_lag_seconds", ())] < 3 * 3600
    assert samples[("echopilot_webhook_refusals_24h", (("reason", "invalid_signature"),))] == 4
    for state in Alert.Status.values:  # the model's states, whichever they are
        expected = 1 if state in (Alert.Status.FIRING, Alert.Status.RESOLVED) else 0
        assert samples[("echopilot_alerts", (("state", state),))] == expected


def test_with_nothing_waiting_the_ages_are_zero(client):
    samples = scrape(client)
    assert samples[("echopilot_fraud_reviews_open", ())] == 0
    assert samples[("echopilot_fraud_review_oldest_open_age_seconds", ())] == 0
    assert samples[("echopilot_webhook_processing_lag_seconds", ())] == 0


SCRAPE = """
import django
django.setup()
from prometheus_client import generate_latest
from observability.metrics import metrics_registry
print(generate_latest(metrics_registry()).decode())
"""


def scrape_in_a_process(database_url: str, scratch) -> subprocess.Popen:
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTEST_XDIST_WORKER")},
        "DJANGO_SETTINGS_MODULE": "echopilot.settings",
        "ENV_FILE": "",
        "SESSION_SECRET": "x" * 40,
        "DATABASE_URL": database_url,
        "LOG_DIR": str(scratch / "logs"),
        "CACHE_DIR": str(scratch / "cache"),
    }
    return subprocess.Popen(
        [sys.executable, "-c", SCRAPE], cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, text=True
    )


@pytest.mark.django_db(transaction=True)
def test_two_processes_scraping_at_once_report_the_same_totals(tmp_path):
    """As two gunicorn workers (or nodes) do: the tally is shared in the database and advanced by one at a time."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        database_url = f"sqlite:///{db['NAME']}"
    else:
        database_url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    before = timezone.now() - timedelta(minutes=1)
    decision_tally_advance(now=timezone.now())
    for index in range(6):
        make_fraud_check(decision="block" if index % 2 else "allow", rule=f"rule{index % 3}", created_at=before)
    expected = {("rule0", "allow"): 1, ("rule1", "block"): 1, ("rule2", "allow"): 1}
    expected.update({("rule0", "block"): 1, ("rule1", "allow"): 1, ("rule2", "block"): 1})
    for _ in range(2):
        processes = [scrape_in_a_process(database_url, tmp_path) for _ in range(2)]
        outputs = [process.communicate(timeout=120)[0] for process in processes]
        assert [process.returncode for process in processes] == [0, 0]
        for output in outputs:
            found = {f.name: f for f in text_string_to_metric_families(output)}
            totals = {
                (s.labels["rule"], s.labels["outcome"]): s.value for s in found["echopilot_fraud_decisions"].samples
            }
            assert totals == expected


@pytest.mark.django_db(transaction=True)
def test_eight_scrapes_at_once_count_each_check_once():
    now = timezone.now()
    decision_tally_advance(now=now)
    for _ in range(5):
        make_fraud_check(decision="allow", rule="default", created_at=now - timedelta(minutes=1))
    results = at_once(8, lambda _: decision_tally_advance(now=now))
    assert results == [{("default", "allow"): 5}] * 8
