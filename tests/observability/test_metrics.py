"""/metrics: Prometheus text format through prometheus-client, behind X-Dash-Key or a bearer token."""

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from notifications.models import Status
from tests.factories import make_alert, make_email, make_fraud_check

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
