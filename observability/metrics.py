"""Prometheus metrics: request counts and latencies (middleware) and business gauges read at scrape time.

Request metrics live in each process. Under gunicorn with several workers a
scrape sees one worker's numbers, unless ``PROMETHEUS_MULTIPROC_DIR`` names an
empty directory shared by the workers (prometheus-client's multiprocess mode):
then every worker writes its values there and a scrape adds them up.
"""

import os
import time
from datetime import timedelta

from django.db.models import Count, Min, Sum
from django.utils import timezone
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from echopilot.taskqueue import process_started_at, task_queue_stall, task_queue_state
from fraud.models import FraudCheck
from fraud.services import decision_tally_advance
from notifications.models import Email, Status
from observability.models import Alert
from observability.selectors import count_by, open_reviews, queue_depth
from payments.models import WebhookEvent, WebhookRejection

REQUESTS = Counter("echopilot_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=None)
LATENCY = Histogram(
    "echopilot_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    registry=None,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class RequestMetricsMiddleware:
    """Counts every request by method, URL route (the pattern, never the raw path) and status."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match else "unmatched"
        LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        return response


class BusinessCollector(Collector):
    """Business series computed from the database at scrape time, so every worker and node answers the same.

    Each is cheap: an index probe or range (windows of 24 hours on a time index), one row per alert rule, or
    the fraud checks stored since the previous scrape (``fraud.services.decision_tally_advance``).
    """

    def collect(self):
        now = timezone.now()
        since = now - timedelta(hours=24)
        yield from fraud_series(now=now, since=since)
        emails = GaugeMetricFamily(
            "echopilot_emails_24h", "Emails written in the past 24 hours by status", labels=["status"]
        )
        by_status = count_by(Email.objects.filter(created_at__gte=since), "status")
        for status in Status.values:
            emails.add_metric([status], by_status.get(status, 0))
        yield emails
        yield GaugeMetricFamily(
            "echopilot_emails_queued",
            "Emails waiting to be sent (queued, due now or retrying later)",
            value=Email.objects.filter(status=Status.QUEUED).count(),
        )
        yield from webhook_series(now=now, since=since)
        yield from alert_series()
        yield from task_queue_gauges()
        queued = queue_depth()
        if queued is None:  # the broker is down: the gauge is absent rather than wrong
            return
        yield GaugeMetricFamily("echopilot_task_queue_depth", "Tasks waiting in the queue", value=queued)


def fraud_series(*, now, since):
    decisions = CounterMetricFamily(
        "echopilot_fraud_decisions",
        "Fraud decisions by rule and outcome since /metrics was first scraped (checks older than 30 s)",
        labels=["rule", "outcome"],
    )
    for (rule, outcome), count in decision_tally_advance(now=now).items():
        decisions.add_metric([rule, outcome], count)
    yield decisions
    window = GaugeMetricFamily(
        "echopilot_fraud_decisions_24h", "Fraud decisions in the past 24 hours", labels=["decision"]
    )
    for decision, count in count_by(FraudCheck.objects.filter(created_at__gte=since), "decision").items():
        window.add_metric([decision], count)
    yield window
    count, oldest = open_reviews()
    yield GaugeMetricFamily("echopilot_fraud_reviews_open", "Fraud reviews waiting for a decision", value=count)
    yield GaugeMetricFamily(
        "echopilot_fraud_review_oldest_open_age_seconds",
        "Seconds the oldest open fraud review has waited (0 when none is open)",
        value=max((now - oldest).total_seconds(), 0) if oldest else 0,
    )


def webhook_series(*, now, since):
    events = GaugeMetricFamily(
        "echopilot_webhook_events_24h",
        "Provider webhook events received in the past 24 hours by status",
        labels=["status"],
    )
    by_status = count_by(WebhookEvent.objects.filter(received_at__gte=since), "status")
    for status in WebhookEvent.Status.values:
        events.add_metric([status], by_status.get(status, 0))
    yield events
    refusals = GaugeMetricFamily(
        "echopilot_webhook_refusals_24h",
        "Webhook deliveries refused in the past 24 hours (signature, content type or body) by reason",
        labels=["reason"],
    )
    refused = dict(
        WebhookRejection.objects.filter(minute__gte=since).values_list("reason").annotate(n=Sum("count")).order_by()
    )
    for reason in WebhookRejection.Reason.values:
        refusals.add_metric([reason], refused.get(reason, 0))
    yield refusals
    failed = WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED).aggregate(
        n=Count("id"), oldest=Min("received_at")
    )
    yield GaugeMetricFamily(
        "echopilot_webhook_events_failed",
        "Verified webhook events whose processing failed and that wait for a redelivery or a reprocess",
        value=failed["n"],
    )
    yield GaugeMetricFamily(
        "echopilot_webhook_processing_lag_seconds",
        "Seconds the oldest verified webhook event still unprocessed (failed) has waited (0 when none waits)",
        value=max((now - failed["oldest"]).total_seconds(), 0) if failed["oldest"] else 0,
    )


def alert_series():
    """Alerts by state (the states are the model's choices) and firing alerts by severity."""
    states = GaugeMetricFamily("echopilot_alerts", "Production alerts by state", labels=["state"])
    by_state = count_by(Alert.objects.all(), "status")  # one row per rule and fingerprint: a handful
    for state in Alert.Status.values:
        states.add_metric([state], by_state.get(state, 0))
    yield states
    alerts = GaugeMetricFamily("echopilot_alerts_firing", "Production alerts firing", labels=["severity"])
    firing = count_by(Alert.objects.filter(status=Alert.Status.FIRING), "severity")
    for severity in Alert.Severity.values:
        alerts.add_metric([severity], firing.get(severity, 0))
    yield alerts


def task_queue_gauges():
    """The task queue's progress, measured outside the queue (echopilot.taskqueue), so Prometheus can alert on it.

    A gauge whose value cannot be known (no heartbeat yet, the broker unreadable) is absent rather than wrong.
    """
    state = task_queue_state()
    if state.heartbeat_age_seconds is not None:
        yield GaugeMetricFamily(
            "echopilot_task_heartbeat_age_seconds",
            "Seconds since the last heartbeat task ran",
            value=state.heartbeat_age_seconds,
        )
    if state.oldest_queued_age_seconds is not None:
        yield GaugeMetricFamily(
            "echopilot_task_queue_oldest_age_seconds",
            "Seconds the oldest task waiting in the queue has waited (0 when none waits)",
            value=state.oldest_queued_age_seconds,
        )
    yield GaugeMetricFamily(
        "echopilot_task_schedule_late_seconds",
        "Seconds the most overdue schedule is past its run time (0 when none is)",
        value=state.schedule_late_seconds,
    )
    stall = task_queue_stall(state, started_at=process_started_at())
    yield GaugeMetricFamily(
        "echopilot_task_queue_stalled", "1 while /readyz reports the task queue stalled", value=int(stall is not None)
    )


def metrics_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REQUESTS)
        registry.register(LATENCY)
    registry.register(BusinessCollector())
    return registry
