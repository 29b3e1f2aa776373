"""Governance KPIs over the past 24 hours, computed from seeded rows."""

from datetime import timedelta

import pytest

from echopilot.models import Heartbeat
from notifications.models import Status
from observability import rules, selectors
from tests.constants import NOW
from tests.factories import make_email, make_fraud_check, make_heartbeat, make_payment

pytestmark = pytest.mark.django_db


def test_kpis_on_seeded_data(settings, installed):
    installed(NOW - timedelta(days=30))
    hour = NOW - timedelta(hours=1)
    for n in range(17):
        make_payment(f"pi_ok{n}", created_at=hour)
    make_payment("pi_ref", status="refunded", created_at=hour)
    make_payment("pi_f1", status="failed", created_at=hour)
    make_payment("pi_f2", status="failed", created_at=hour)
    make_payment("pi_pending", status="pending", created_at=hour)  # not finished: not counted
    make_payment("pi_old", status="failed", created_at=NOW - timedelta(hours=25))  # outside the window
    for decision in ["allow"] * 7 + ["review", "block", "block"]:
        make_fraud_check(decision=decision, created_at=hour)
    for status in [Status.SENT] * 19 + [Status.FAILED, Status.QUEUED]:
        make_email(status=status, created_at=hour)
    for minute in range(1440 - 30):  # the scheduler was down for half an hour
        make_heartbeat(created_at=NOW - timedelta(minutes=1440 - minute))
        if minute % 2:
            Heartbeat.objects.create(node="m", pid=2, created_at=NOW - timedelta(minutes=1440 - minute, seconds=-5))

    kpis = {kpi.name: kpi.value for kpi in selectors.governance_kpis(now=NOW)}
    assert kpis == {
        "payment_success_rate": 90.0,
        "fraud_block_rate": 20.0,
        "email_delivery_rate": 95.0,
        "scheduler_uptime": 97.92,
    }
    result = rules.governance(selectors.governance_kpis(now=NOW), margin=settings.KPI_AT_RISK_MARGIN)
    assert result["status"] == "failing"
    assert result["failing"] == ["fraud_block_rate", "scheduler_uptime"]
    assert result["at_risk"] == ["email_delivery_rate", "payment_success_rate"]


def test_no_data_is_not_a_failure(installed):
    installed(NOW - timedelta(days=30))
    result = rules.governance(selectors.governance_kpis(now=NOW), margin=2)
    assert result["kpis"]["payment_success_rate"]["status"] == "no_data"
    assert result["failing"] == ["scheduler_uptime"]  # no heartbeat at all is downtime


def test_a_fresh_install_is_warming_up_not_failing(installed):
    """Three hours after installation, with the scheduler beating every minute: nothing reads as failing."""
    installed(NOW - timedelta(hours=3))
    for minute in range(180):
        make_heartbeat(created_at=NOW - timedelta(minutes=180 - minute))
    for decision in ["allow", "block"]:  # a first test of the guard: 50% blocked
        make_fraud_check(decision=decision, created_at=NOW - timedelta(hours=1))

    kpis = selectors.governance_kpis(now=NOW)
    assert {kpi.name: kpi.value for kpi in kpis}["scheduler_uptime"] == 100.0  # of the 180 minutes so far, not 12.5%
    result = rules.governance(kpis, margin=2)
    assert result["status"] == "warming_up"
    assert (result["failing"], result["at_risk"]) == ([], [])
    assert result["warming_up"] == [
        "email_delivery_rate",
        "fraud_block_rate",
        "payment_success_rate",
        "scheduler_uptime",
    ]
    assert result["warming_up_until"] == "2026-03-11T09:00:00.000Z"
    block_rate = result["kpis"]["fraud_block_rate"]
    assert (block_rate["value"], block_rate["status"]) == (50.0, "warming_up")  # the figure stays a number
    assert block_rate["note"] == (
        "warming up: the service has not yet run a full window, so this figure covers only part of it "
        "and is judged from 2026-03-11 09:00 UTC"
    )


def test_after_a_full_window_the_kpis_are_judged(installed):
    installed(NOW - timedelta(hours=24))  # exactly one window ago: full
    for minute in range(600):  # the scheduler ran for only 10 of the 24 hours
        make_heartbeat(created_at=NOW - timedelta(minutes=600 - minute))
    result = rules.governance(selectors.governance_kpis(now=NOW), margin=2)
    assert result["kpis"]["scheduler_uptime"] == {
        "value": 41.67, "target": 99.0, "direction": "min", "status": "failing", "warming_up_until": None, "note": None,
    }  # fmt: skip
    assert (result["status"], result["warming_up"], result["warming_up_until"]) == ("failing", [], None)
