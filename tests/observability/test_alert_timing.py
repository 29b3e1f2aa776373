"""Alert timing with a fake clock: ``for`` (pending first), ``keep_firing_for`` (no flapping), the repeat interval,
resolves after a silence, maintenance windows; every transition is a row and a ``production_alerts`` line."""

from datetime import time, timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured

from echopilot.env import env_rule_timing
from notifications.models import Kind, TelegramMessage
from observability.alerts import alerts_evaluate
from observability.apps import alert_rule_timing_check
from observability.models import Alert, AlertTransition, MaintenanceWindow, Silence
from payments.models import WebhookEvent
from tests.constants import NOW
from tests.factories import make_webhook_event

pytestmark = pytest.mark.django_db
MIN = timedelta(minutes=1)


def condition(at, *, holds: bool = True):
    """Make webhook_failures' condition hold at ``at`` (4 failures in the 5 minutes before it), or not."""
    if holds:
        for n in range(4):
            make_webhook_event(
                event_id=f"evt_{at:%d%H%M}_{n}",
                type="payment_intent.succeeded",
                status=WebhookEvent.Status.FAILED,
                received_at=at - MIN,
            )


def evaluate(at, *, holds: bool = True) -> list[str]:
    condition(at, holds=holds)
    return alerts_evaluate(now=at).notified


def transitions() -> list[tuple[str, str]]:
    return list(AlertTransition.objects.order_by("at", "id").values_list("from_state", "to_state"))


def texts() -> list[str]:
    return list(TelegramMessage.objects.filter(kind=Kind.ALERT).order_by("id").values_list("text", flat=True))


def test_with_for_an_alert_is_pending_until_the_condition_held_that_long(settings, on_commit):
    settings.ALERT_FOR_MINUTES = 10
    assert evaluate(NOW) == []
    alert = Alert.objects.get()
    assert (alert.status, alert.pending_since, alert.started_at) == ("pending", NOW, None)
    assert evaluate(NOW + 5 * MIN) == []
    assert evaluate(NOW + 10 * MIN) == ["firing:webhook_failures"]
    alert.refresh_from_db()
    assert (alert.status, alert.pending_since, alert.started_at) == ("firing", NOW, NOW + 10 * MIN)
    assert transitions() == [("", "pending"), ("pending", "firing")]


def test_a_for_shorter_than_the_evaluation_interval_fires_at_the_next_evaluation(settings, on_commit):
    settings.ALERT_FOR_MINUTES = 2
    assert evaluate(NOW) == []
    assert evaluate(NOW + 5 * MIN) == ["firing:webhook_failures"]


def test_for_zero_fires_at_once_as_before(on_commit):
    assert evaluate(NOW) == ["firing:webhook_failures"]
    assert transitions() == [("", "firing")]


def test_a_pending_alert_whose_condition_clears_never_fired_and_tells_nobody(settings, on_commit):
    settings.ALERT_FOR_MINUTES = 15
    assert evaluate(NOW) == []
    assert evaluate(NOW + 5 * MIN, holds=False) == []
    assert Alert.objects.get().status == "inactive"
    assert evaluate(NOW + 10 * MIN) == []  # pending again, from the start
    assert Alert.objects.get().pending_since == NOW + 10 * MIN
    assert transitions() == [("", "pending"), ("pending", "inactive"), ("inactive", "pending")]
    assert texts() == []


def test_keep_firing_for_a_condition_flapping_every_evaluation_never_resolves_nor_refires(settings, on_commit):
    settings.ALERT_KEEP_FIRING_FOR_MINUTES = 10
    settings.ALERT_REPEAT_HOURS = 24
    notified = []
    with on_commit(execute=True):
        for step in range(23):  # almost two hours: on, off, on, off ... on
            notified += evaluate(NOW + step * 5 * MIN, holds=step % 2 == 0)
        assert notified == ["firing:webhook_failures"]
        assert Alert.objects.get().status == "firing"
        off = NOW + 23 * 5 * MIN
        assert evaluate(off, holds=False) == []  # cleared: kept firing
        assert evaluate(off + 5 * MIN, holds=False) == []
        assert evaluate(off + 10 * MIN, holds=False) == ["resolved:webhook_failures"]
    alert = Alert.objects.get()
    assert (alert.status, alert.resolved_at, alert.started_at) == ("resolved", off + 10 * MIN, NOW)
    assert transitions() == [("", "firing"), ("firing", "resolved")]
    assert len(texts()) == 2


def test_without_keep_firing_for_the_same_flapping_resolves_and_refires_every_time(on_commit):
    notified = []
    for step in range(4):
        notified += evaluate(NOW + step * 5 * MIN, holds=step % 2 == 0)
    assert notified == ["firing:webhook_failures", "resolved:webhook_failures"] * 2


def test_the_repeat_interval_is_alert_repeat_hours(settings, on_commit):
    settings.ALERT_REPEAT_HOURS = 1
    assert evaluate(NOW) == ["firing:webhook_failures"]
    assert evaluate(NOW + 55 * MIN) == []
    assert evaluate(NOW + 60 * MIN) == ["reminder:webhook_failures"]
    assert evaluate(NOW + 115 * MIN) == []
    assert evaluate(NOW + 120 * MIN) == ["reminder:webhook_failures"]


@pytest.mark.parametrize(("send", "expected"), [(True, ["resolved:webhook_failures"]), (False, [])])
def test_a_resolve_is_sent_after_a_silence_set_once_it_fired(settings, on_commit, send, expected):
    settings.ALERT_SEND_RESOLVED_WHEN_SILENCED = send
    assert evaluate(NOW) == ["firing:webhook_failures"]
    Silence.objects.create(rule="webhook_failures", until=NOW + timedelta(hours=2), reason="on it")
    assert evaluate(NOW + 5 * MIN) == []
    assert Alert.objects.get().silenced_by.startswith("silence until 2026-03-10 14:00 UTC")
    assert evaluate(NOW + 10 * MIN, holds=False) == expected
    assert Alert.objects.get().silenced_by == ""  # over: nothing silences it any more
    assert transitions() == [("", "firing"), ("firing", "silenced"), ("firing", "resolved")]


def test_an_alert_silenced_before_it_fired_gets_no_resolve_either(on_commit):
    Silence.objects.create(rule="webhook_failures", until=NOW + timedelta(hours=2), reason="deploy")
    assert evaluate(NOW) == []
    assert evaluate(NOW + 5 * MIN, holds=False) == []
    assert texts() == []


def test_a_silence_of_one_fingerprint_leaves_the_others_of_the_rule(on_commit):
    Silence.objects.create(rule="webhook_failures", fingerprint="other", until=NOW + timedelta(hours=2), reason="x")
    assert evaluate(NOW) == ["firing:webhook_failures"]


def window(**fields) -> MaintenanceWindow:
    values = {"weekdays": [1], "start": time(12, 30), "end": time(13, 30), "time_zone": "Europe/Berlin"}
    values.update(fields)
    return MaintenanceWindow.objects.create(comment="database upgrade", **values)


def test_an_alert_in_a_maintenance_window_is_silenced_and_announced_when_the_window_closes(on_commit, read_audit):
    # Tuesday 2026-03-10, 12:30-13:30 in Berlin (CET): 11:30-12:30 UTC.
    window()
    assert evaluate(NOW) == []
    alert = Alert.objects.get()
    assert alert.status == "firing"
    assert alert.silenced_by == ("maintenance window all rules Tue 12:30–13:30 Europe/Berlin (database upgrade)")
    assert evaluate(NOW + 25 * MIN) == []
    assert evaluate(NOW + 30 * MIN) == ["firing:webhook_failures"]
    assert Alert.objects.get().silenced_by == ""
    assert transitions() == [("", "firing"), ("firing", "silenced"), ("firing", "unsilenced")]


def test_a_window_of_another_rule_or_another_day_silences_nothing(on_commit):
    window(rule="revenue_dip")
    window(weekdays=[0, 2, 3, 4, 5, 6])
    window(time_zone="America/New_York")  # 12:30 there is 16:30 UTC
    assert evaluate(NOW) == ["firing:webhook_failures"]


def test_every_transition_is_a_row_and_a_line(settings, on_commit, read_audit):
    settings.ALERT_FOR_MINUTES = 5
    window(start=time(13, 10), end=time(13, 20))  # 12:10-12:20 UTC
    with on_commit(execute=True):
        for step, holds in enumerate([True, True, True, True, True, False, True, False]):
            evaluate(NOW + step * 5 * MIN, holds=holds)
    rows = [
        (t.from_state, t.to_state, t.at, t.alert.rule)
        for t in AlertTransition.objects.order_by("at", "id").select_related("alert")
    ]
    assert [(a, b) for a, b, *_ in rows] == [
        ("", "pending"),
        ("pending", "firing"),
        ("firing", "silenced"),
        ("firing", "unsilenced"),
        ("firing", "resolved"),
        ("resolved", "pending"),
        ("pending", "inactive"),
    ]
    events = read_audit("production_alerts")
    assert [(e["event"], e["from"], e["rule"], e["at"]) for e in events] == [
        (f"alert_{b}", a or None, rule, at.strftime("%Y-%m-%dT%H:%M:%S.000Z")) for a, b, at, rule in rows
    ]


def test_a_rule_of_its_own_timing_overrides_the_global_one(settings, on_commit):
    settings.ALERT_FOR_MINUTES = 0
    settings.ALERT_REPEAT_HOURS = 4
    settings.ALERT_RULE_TIMING = {"webhook_failures": {"for": 10, "repeat": 1}, "revenue_dip": {"for": 60}}
    assert evaluate(NOW) == []  # its own `for`: pending first, where the global 0 fires at once
    assert evaluate(NOW + 10 * MIN) == ["firing:webhook_failures"]
    assert evaluate(NOW + 10 * MIN + timedelta(hours=1)) == ["reminder:webhook_failures"]  # its own repeat: 1 h


def test_alert_rule_timing_is_read_as_rule_colon_pairs(monkeypatch):
    monkeypatch.setenv("X_TIMING", " revenue_dip:for=60,repeat=12 ; payment_error_rate:keep=15 ;")
    assert env_rule_timing("X_TIMING") == {"revenue_dip": {"for": 60, "repeat": 12}, "payment_error_rate": {"keep": 15}}
    monkeypatch.setenv("X_TIMING", "")
    assert env_rule_timing("X_TIMING") == {}
    for bad in (
        "revenue_dip",
        "revenue_dip:for=60,for=5",
        "revenue_dip:wait=5",
        "revenue_dip:for=-1",
        "revenue_dip:repeat=0",
        "revenue_dip:for=999999",
        "a:for=1;a:for=2",
        "Revenue Dip:for=1",
    ):
        monkeypatch.setenv("X_TIMING", bad)
        with pytest.raises(ImproperlyConfigured, match="X_TIMING"):
            env_rule_timing("X_TIMING")


def test_a_rule_that_does_not_exist_stops_the_start(settings):
    settings.ALERT_RULE_TIMING = {"revenue_dips": {"for": 5}}
    with pytest.raises(ImproperlyConfigured, match="no alert rule is named revenue_dips"):
        alert_rule_timing_check()
