"""Pure rules: thresholds, minimum sample, notification policy, governance and health. No database."""

import re
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest

from observability import rules

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
MIN = timedelta(minutes=1)


@pytest.mark.parametrize(("failures", "firing"), [(0, False), (3, False), (4, True), (50, True)])
def test_webhook_failures_fire_above_three(failures, firing):
    result = rules.webhook_failures(failures=failures, threshold=3)
    assert (result.firing, result.observed, result.threshold, result.severity) == (firing, failures, 3, "critical")


@pytest.mark.parametrize(
    ("failed", "finished", "firing"), [(1, 20, False), (2, 40, False), (3, 40, True), (2, 20, True)]
)
def test_payment_error_rate_fires_above_five_percent(failed, finished, firing):
    result = rules.payment_error_rate(failed=failed, finished=finished, threshold_percent=5, min_payments=20)
    assert result.firing is firing
    assert result.observed == pytest.approx(100 * failed / finished)


def test_payment_error_rate_stays_silent_below_the_minimum_sample():
    result = rules.payment_error_rate(failed=19, finished=19, threshold_percent=5, min_payments=20)
    assert result.firing is False
    assert result.observed == 100.0
    assert "needs 20" in result.summary


@pytest.mark.parametrize(
    ("current", "previous", "firing"),
    [("700", "1000", False), ("699.99", "1000", True), ("0", "1000", True), ("1500", "1000", False)],
)
def test_revenue_dip_fires_more_than_thirty_percent_below(current, previous, firing):
    result = rules.revenue_dip(currency="usd", current=Decimal(current), previous=Decimal(previous), dip_percent=30)
    assert (result.firing, result.fingerprint, result.threshold) == (firing, "usd", -30.0)


def test_revenue_dip_says_its_amounts_in_the_currencys_own_form():
    result = rules.revenue_dip(
        currency="jpy", current=Decimal("522170.000000000000"), previous=Decimal("1000000"), dip_percent=30
    )
    assert result.summary == "revenue JPY 522,170 in the past 24 h vs JPY 1,000,000 the day before (-47.8%)"


def test_revenue_dip_needs_a_previous_day():
    result = rules.revenue_dip(currency="eur", current=Decimal("5"), previous=Decimal("0"), dip_percent=30)
    assert result.firing is False and result.observed is None


def kind(**overrides):
    values = {
        "was_firing": False,
        "firing": True,
        "started_at": NOW,
        "last_notified_at": None,
        "now": NOW,
        "repeat": 4 * HOUR,
        "silenced": False,
    }
    return rules.notification_kind(**{**values, **overrides})


def test_policy_notifies_start_then_reminds_every_repeat_then_resolves_once():
    start = NOW - 5 * HOUR
    assert kind(started_at=NOW) == "firing"
    assert (
        kind(was_firing=True, started_at=start, last_notified_at=start, now=start + 4 * HOUR - timedelta(seconds=1))
        is None
    )
    assert kind(was_firing=True, started_at=start, last_notified_at=start, now=start + 4 * HOUR) == "reminder"
    assert kind(was_firing=True, firing=False, started_at=start, last_notified_at=start) == "resolved"
    assert kind(was_firing=False, firing=False, started_at=start, last_notified_at=start) is None


def test_policy_keeps_silenced_alerts_quiet_and_announces_them_once_the_silence_ends():
    start = NOW - HOUR
    assert kind(silenced=True) is None
    # Announced firing, silenced afterwards: the resolve still goes out, unless the setting says otherwise.
    assert kind(was_firing=True, firing=False, silenced=True, started_at=start, last_notified_at=start) == "resolved"
    quiet = {"send_resolved_when_silenced": False}
    assert kind(was_firing=True, firing=False, silenced=True, started_at=start, last_notified_at=start, **quiet) is None
    assert kind(was_firing=True, started_at=start, last_notified_at=None) == "firing"
    # An episode never announced is not announced as resolved either.
    assert kind(was_firing=True, firing=False, started_at=start, last_notified_at=start - HOUR) is None


def test_governance_is_healthy_at_risk_or_failing_naming_the_kpis():
    kpis = [rules.Kpi("payment_success_rate", 97.0, 90.0), rules.Kpi("fraud_block_rate", 2.0, 10.0, False)]
    assert rules.governance(kpis, margin=2)["status"] == "healthy"
    at_risk = rules.governance([*kpis, rules.Kpi("email_delivery_rate", 96.0, 95.0)], margin=2)
    assert (at_risk["status"], at_risk["at_risk"]) == ("at_risk", ["email_delivery_rate"])
    failing = rules.governance([*kpis, rules.Kpi("fraud_block_rate", 12.5, 10.0, False)], margin=2)
    assert (failing["status"], failing["failing"]) == ("failing", ["fraud_block_rate"])
    assert rules.governance([rules.Kpi("scheduler_uptime", None, 99.0)], margin=2)["status"] == "healthy"


def test_a_warming_up_kpi_is_reported_but_never_failing_or_at_risk():
    until = NOW + timedelta(hours=20)
    low = rules.Kpi("scheduler_uptime", 12.5, 99.0, warming_up_until=until)
    assert low.status(2) == "warming_up"
    warming = rules.governance(
        [low, rules.Kpi("fraud_block_rate", 50.0, 10.0, False, warming_up_until=until)], margin=2
    )
    assert (warming["status"], warming["failing"], warming["at_risk"]) == ("warming_up", [], [])
    assert warming["warming_up_until"] == "2026-03-11T08:00:00.000Z"
    # A KPI that has its full window is still judged next to warming-up ones.
    mixed = rules.governance([low, rules.Kpi("payment_success_rate", 50.0, 90.0)], margin=2)
    assert (mixed["status"], mixed["failing"], mixed["warming_up"]) == (
        "failing",
        ["payment_success_rate"],
        ["scheduler_uptime"],
    )


LIMITS = rules.Thresholds(cpu_percent=85, mem_percent=90, disk_percent=90, heartbeat_max_age=180)
QUIET = {
    "cpu_percent": 10.0,
    "mem_percent": 50.0,
    "disk_percent": 40.0,
    "heartbeat_age_sec": 30.0,
    "api_healthy": True,
    "api_url": "http://127.0.0.1:8000/readyz",
    "api_error": None,
    "audit_write_failures": 0,
    "firing_alerts": [],
    "governance_failing": [],
    "audit_discrepancies": 0,
    "cache_problem": None,
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"cpu_percent": 98.4}, "CPU 98% (threshold 85%)"),
        ({"mem_percent": 91.0}, "Memory 91% (threshold 90%)"),
        ({"disk_percent": 95.0}, "Disk 95% (threshold 90%)"),
        ({"heartbeat_age_sec": 181.0}, "Scheduler heartbeat 181 s old (threshold 180 s)"),
        ({"heartbeat_age_sec": None}, "No scheduler heartbeat"),
        ({"audit_write_failures": 1}, "1 audit log write failure"),
        ({"audit_write_failures": 3}, "3 audit log write failures"),
        ({"firing_alerts": ["webhook_failures"]}, "Alert firing: webhook_failures"),
        ({"governance_failing": ["email_delivery_rate"]}, "Governance failing: email_delivery_rate"),
        ({"audit_discrepancies": 2}, "Weekly audit: 2 discrepancies"),
        ({"cache_problem": "unreachable (ConnectionError)"}, "Cache unreachable (ConnectionError)"),
        (
            {"api_healthy": False, "api_error": "connection refused"},
            "API probe of http://127.0.0.1:8000/readyz failed: connection refused",
        ),
        ({"api_healthy": False, "api_error": "HTTP 503"}, "API probe of http://127.0.0.1:8000/readyz failed: HTTP 503"),
    ],
)
def test_each_threshold_produces_its_warning(change, expected):
    assert rules.ops_warnings(**{**QUIET, **change}, limits=LIMITS) == [expected]


def test_no_warning_at_the_thresholds_or_without_a_cpu_sample():
    at = {"cpu_percent": 85.0, "mem_percent": 90.0, "disk_percent": 90.0, "heartbeat_age_sec": 180.0}
    assert rules.ops_warnings(**{**QUIET, **at}, limits=LIMITS) == []
    assert rules.ops_warnings(**{**QUIET, "cpu_percent": None}, limits=LIMITS) == []


def test_overall_is_critical_when_the_api_is_down_or_a_critical_alert_fires():
    assert rules.overall(warnings=[], api_healthy=True, critical_firing=False, governance_status="healthy") == "healthy"
    assert (
        rules.overall(warnings=["x"], api_healthy=True, critical_firing=False, governance_status="at_risk")
        == "degraded"
    )
    assert (
        rules.overall(warnings=["x"], api_healthy=False, critical_firing=False, governance_status="healthy")
        == "critical"
    )
    assert (
        rules.overall(warnings=["x"], api_healthy=True, critical_firing=True, governance_status="healthy") == "critical"
    )


def test_cpu_percent_between_two_samples():
    before = {"user": 100.0, "system": 50.0, "idle": 800.0, "iowait": 50.0, "guest": 10.0}
    after = {"user": 130.0, "system": 60.0, "idle": 850.0, "iowait": 60.0, "guest": 20.0}
    assert rules.cpu_percent_between(before, after) == 40.0  # 40 busy of 100 (guest is inside user)
    assert rules.cpu_percent_between(after, after) is None


def test_a_failed_probe_without_a_reason_still_names_the_address():
    warnings = rules.ops_warnings(**{**QUIET, "api_healthy": False}, limits=LIMITS)
    assert warnings == ["API probe of http://127.0.0.1:8000/readyz failed: no answer"]


@pytest.mark.parametrize(
    ("rule", "value", "text"),
    [
        ("payment_error_rate", 12.5, "12.5%"),
        ("payment_error_rate", 98.0, "98%"),
        ("revenue_dip", -42.13, "-42.1%"),
        ("revenue_dip", -30.0, "-30%"),
        ("revenue_dip", 1234567.891, "1,234,567.9%"),
        ("revenue_dip", -0.04, "0%"),
        ("webhook_failures", 4.0, "4"),
        ("webhook_signature_failures", 12000.0, "12,000"),
        ("webhook_failures", None, "–"),
    ],
)
def test_alert_values_read_as_percentages_or_counts(rule, value, text):
    assert rules.alert_value_text(rule, value) == text


def test_every_rule_summary_shows_numbers_for_people():
    results = [
        rules.webhook_failures(failures=4, threshold=3),
        rules.webhook_signature_failures(refused=25, threshold=20),
        rules.payment_error_rate(failed=1, finished=3, threshold_percent=5.0, min_payments=3),
        rules.revenue_dip(
            currency="jpy", current=Decimal("1200000.00"), previous=Decimal("3000000.00"), dip_percent=30
        ),
        rules.revenue_dip(currency="kwd", current=Decimal("1.5"), previous=Decimal("0"), dip_percent=30),
    ]
    summaries = [result.summary for result in results]

    assert "33.3% of 3 payments failed" in summaries[2] and "(alert above 5%)" in summaries[2]
    assert summaries[3] == "revenue JPY 1,200,000 in the past 24 h vs JPY 3,000,000 the day before (-60.0%)"
    for summary in summaries:  # no float or Decimal noise such as "522.170000000000" or "98.0000%"
        assert not re.search(r"\.\d{3,}|e[+-]\d", summary), summary


# --- Alert timing and maintenance windows (pure) -------------------------------------------------------------


def step(status, condition, *, pending_since=None, cleared_at=None, now=NOW, hold=0, keep=0):
    return rules.alert_step(
        status=status,
        condition=condition,
        pending_since=pending_since,
        cleared_at=cleared_at,
        now=now,
        hold=timedelta(minutes=hold),
        keep=timedelta(minutes=keep),
    )


def test_alert_step_waits_for_for_and_keeps_firing_for_keep_firing_for():
    assert step(None, True, hold=10) == rules.Step("pending", NOW, None)
    assert step("pending", True, pending_since=NOW - 9 * MIN, hold=10).status == "pending"
    assert step("pending", True, pending_since=NOW - 10 * MIN, hold=10) == rules.Step("firing", NOW - 10 * MIN, None)
    assert step("pending", False, pending_since=NOW - 10 * MIN, hold=10) == rules.Step("inactive", None, None)
    assert step("firing", False, pending_since=NOW - HOUR, keep=10) == rules.Step("firing", NOW - HOUR, NOW)
    assert step("firing", False, cleared_at=NOW - 9 * MIN, keep=10).status == "firing"
    assert step("firing", False, cleared_at=NOW - 10 * MIN, keep=10) == rules.Step("resolved", None, None)
    assert step("firing", True, cleared_at=NOW - 9 * MIN, keep=10).cleared_at is None  # back: never resolved
    assert step("resolved", False) == rules.Step("resolved", None, None)
    assert step("resolved", True).status == "firing"


def open_at(moment, *, weekdays=range(7), start=time(1), end=time(5), zone="Europe/Berlin"):
    return rules.window_active(weekdays=list(weekdays), start=start, end=end, time_zone=zone, now=moment)


def test_a_window_keeps_its_wall_clock_times_across_the_spring_change():
    # Berlin, 01:00-05:00 local. Saturday 2026-03-28 (CET, UTC+1): 00:00-04:00 UTC.
    assert open_at(datetime(2026, 3, 28, 3, 30, tzinfo=UTC))
    assert not open_at(datetime(2026, 3, 28, 4, 0, tzinfo=UTC))
    # Sunday 2026-03-29 the clocks go 02:00 -> 03:00: 01:00 CET to 05:00 CEST is 00:00-03:00 UTC, an hour shorter.
    assert open_at(datetime(2026, 3, 29, 0, 0, tzinfo=UTC))
    assert open_at(datetime(2026, 3, 29, 2, 59, tzinfo=UTC))
    assert not open_at(datetime(2026, 3, 29, 3, 30, tzinfo=UTC))
    assert not open_at(datetime(2026, 3, 28, 23, 59, tzinfo=UTC))


def test_a_window_keeps_its_wall_clock_times_across_the_autumn_change():
    # New York, Sundays 09:00-10:00: 14:00 UTC in winter (EST), 13:00 UTC in summer (EDT, from 2026-03-08).
    sunday = {"weekdays": [6], "start": time(9), "end": time(10), "zone": "America/New_York"}
    assert open_at(datetime(2026, 3, 1, 14, 30, tzinfo=UTC), **sunday)
    assert not open_at(datetime(2026, 3, 1, 13, 30, tzinfo=UTC), **sunday)
    assert open_at(datetime(2026, 3, 15, 13, 30, tzinfo=UTC), **sunday)
    assert not open_at(datetime(2026, 3, 15, 14, 30, tzinfo=UTC), **sunday)
    assert not open_at(datetime(2026, 3, 16, 13, 30, tzinfo=UTC), **sunday)  # a Monday
    # 2026-11-01 the clocks go back 02:00 -> 01:00: 00:30-03:00 local is 3.5 hours, 04:30-08:00 UTC.
    night = {"weekdays": [6], "start": time(0, 30), "end": time(3), "zone": "America/New_York"}
    assert open_at(datetime(2026, 11, 1, 4, 30, tzinfo=UTC), **night)
    assert open_at(datetime(2026, 11, 1, 7, 59, tzinfo=UTC), **night)
    assert not open_at(datetime(2026, 11, 1, 8, 0, tzinfo=UTC), **night)


def test_a_window_past_midnight_belongs_to_the_day_it_opens():
    friday_night = {"weekdays": [4], "start": time(22), "end": time(2), "zone": "UTC"}
    assert open_at(datetime(2026, 3, 13, 23, 0, tzinfo=UTC), **friday_night)  # Friday
    assert open_at(datetime(2026, 3, 14, 1, 59, tzinfo=UTC), **friday_night)  # Saturday morning
    assert not open_at(datetime(2026, 3, 14, 23, 0, tzinfo=UTC), **friday_night)  # Saturday night
    assert not open_at(datetime(2026, 3, 13, 1, 0, tzinfo=UTC), **friday_night)  # Friday morning: Thursday's
    whole_day = {"weekdays": [1], "start": time(0), "end": time(0), "zone": "UTC"}
    assert open_at(NOW, **whole_day) and not open_at(NOW + timedelta(days=1), **whole_day)


def test_only_iana_time_zones_are_known():
    assert rules.time_zone_known("Europe/Berlin") and rules.time_zone_known("UTC")
    for bad in ("Mars/Olympus", "", "../etc/passwd", "/etc/localtime", "Europe/Berlin\x00", "CET " * 100, None):
        assert not rules.time_zone_known(bad)
