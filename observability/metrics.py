"""Prometheus metrics: request counts and latencies (middleware) and business gauges read at scrape time.

Request metrics live in each process. Under gunicorn with several workers a
scrape sees one worker's numbers, unless ``PROMETHEUS_MULTIPROC_DIR`` names an
empty directory shared by the workers (prometheus-client's multiprocess mode):
then every worker writes its values there and a scrape adds them up.
"""

import os
import time
from datetime import timedelta

from django.utils import timezone
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from echopilot.taskqueue import process_started_at, task_queue_stall, task_queue_state
from fraud.models import FraudCheck
from notifications.models import Email
from observability.models import Alert
from observability.selectors import count_by, queue_depth

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
    """Gauges counted from the database at scrape time (indexed 24-hour windows)."""

    def collect(self):
        since = timezone.now() - timedelta(hours=24)
        fraud = GaugeMetricFamily(
            "echopilot_fraud_decisions_24h", "Fraud decisions in the past 24 hours", labels=["decision"]
        )
        for decision, count in count_by(FraudCheck.objects.filter(created_at__gte=since), "decision").items():
            fraud.add_metric([decision], count)
        yield fraud
        emails = GaugeMetricFamily(
            "echopilot_emails_24h", "Emails written in the past 24 hours by status", labels=["status"]
        )
        for status, count in count_by(Email.objects.filter(created_at__gte=since), "status").items():
            emails.add_metric([status], count)
        yield emails
        alerts = GaugeMetricFamily("echopilot_alerts_firing", "Production alerts firing", labels=["severity"])
        firing = count_by(Alert.objects.filter(status=Alert.Status.FIRING), "severity")
        for severity in Alert.Severity.values:
            alerts.add_metric([severity], firing.get(severity, 0))
        yield alerts
        yield from task_queue_gauges()
        queued = queue_depth()
        if queued is None:  # the broker is down: the gauge is absent rather than wrong
            return
        yield GaugeMetricFamily("echopilot_task_queue_depth", "Tasks waiting in the queue", value=queued)


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
