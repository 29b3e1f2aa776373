"""The alert side of the Telegram buttons: acknowledge, silence 1 h, silence until 09:00 tomorrow.

Presses arrive as ``notifications.signals.telegram_button``, sent here directly as the webhook sends it.
"""

import threading
from datetime import datetime, timedelta

import pytest
from django.db import connection, connections

from echopilot.actors import actor_telegram
from notifications.models import Kind, TelegramMessage
from notifications.signals import ButtonAnswer, telegram_button
from observability import alerts as alerts_module
from observability.alerts import alert_acknowledge, alerts_evaluate
from observability.models import Alert, AlertTransition, Silence
from payments.models import WebhookEvent
from tests.constants import NOW
from tests.factories import make_webhook_event

MIN = timedelta(minutes=1)
ON_CALL = actor_telegram(4242)


def condition(at):
    for n in range(4):
        make_webhook_event(
            event_id=f"evt_{at:%d%H%M}_{n}",
            type="payment_intent.succeeded",
            status=WebhookEvent.Status.FAILED,
            received_at=at - MIN,
        )


def evaluate(at, *, holds=True) -> list[str]:
    if holds:
        condition(at)
    return alerts_evaluate(now=at).notified


def press(action: str, target, *, message=None, now=NOW + MIN) -> ButtonAnswer | None:
    answers = [
        answer
        for receiver, answer in telegram_button.send(
            sender=TelegramMessage, action=action, target=str(target), by=ON_CALL, message=message, now=now
        )
        if answer is not None
    ]
    assert len(answers) <= 1
    return answers[0] if answers else None


def firing() -> tuple[Alert, TelegramMessage]:
    assert evaluate(NOW) == ["firing:webhook_failures"]
    return Alert.objects.get(), TelegramMessage.objects.get(kind=Kind.ALERT)


@pytest.mark.django_db
class TestButtons:
    def test_every_firing_message_carries_the_three_buttons_of_its_alert_and_a_resolve_none(self, on_commit):
        alert, message = firing()
        assert message.buttons == [
            [["Acknowledge", f"ack:{alert.pk}"], ["Silence 1 h", f"silence_1h:{alert.pk}"]],
            [["Silence until 09:00 tomorrow", f"silence_morning:{alert.pk}"]],
        ]
        evaluate(NOW + 5 * MIN, holds=False)
        resolved = TelegramMessage.objects.filter(kind=Kind.ALERT).latest("id")
        assert "[RESOLVED]" in resolved.text and resolved.buttons == []

    def test_acknowledge_records_who_edits_the_message_and_stops_the_reminders(self, on_commit, settings):
        settings.ALERT_REPEAT_HOURS = 1
        alert, message = firing()
        answer = press("ack", alert.pk, message=message)
        line = "Acknowledged by telegram:4242 at 2026-03-10 12:01 UTC"
        assert answer == ButtonAnswer(notice=line, text=message.text + "\n\n" + line, buttons=[])
        alert.refresh_from_db()
        assert (alert.acknowledged_by, alert.acknowledged_at) == (ON_CALL, NOW + MIN)
        for minutes in range(5, 8 * 60, 5):  # eight hours firing: no reminder
            assert evaluate(NOW + minutes * MIN) == []
        assert evaluate(NOW + 8 * 60 * MIN, holds=False) == ["resolved:webhook_failures"]
        resolved = TelegramMessage.objects.filter(kind=Kind.ALERT).latest("id").text
        assert "Acknowledged by telegram:4242 at 2026-03-10 12:01 UTC." in resolved
        # Firing again is a new episode: not acknowledged, its message has buttons again.
        assert evaluate(NOW + 9 * 60 * MIN) == ["firing:webhook_failures"]
        alert.refresh_from_db()
        assert (alert.acknowledged_by, alert.acknowledged_at) == ("", None)
        assert list(alert.transitions.order_by("at", "id").values_list("to_state", "by")) == [
            ("firing", ""),
            ("acknowledged", ON_CALL),
            ("resolved", ""),
            ("firing", ""),
        ]

    def test_a_second_acknowledge_says_who_did_and_changes_nothing(self, on_commit):
        alert, message = firing()
        press("ack", alert.pk, message=message)
        again = press("ack", alert.pk, message=message, now=NOW + 2 * MIN)
        assert again.notice == ("webhook_failures was acknowledged already by telegram:4242 at 2026-03-10 12:01 UTC.")
        assert again.text is None
        assert Alert.objects.get().acknowledged_at == NOW + MIN
        assert AlertTransition.objects.filter(to_state="acknowledged").count() == 1

    def test_silence_1h_silences_this_alert_for_an_hour(self, on_commit, read_audit):
        with on_commit(execute=True):
            alert, message = firing()
            answer = press("silence_1h", alert.pk, message=message)
            line = "Silenced until 2026-03-10 13:01 UTC by telegram:4242"
            assert (answer.notice, answer.text, answer.buttons) == (line, message.text + "\n\n" + line, [])
            silence = Silence.objects.get()
            assert (silence.rule, silence.fingerprint, silence.until, silence.by) == (
                "webhook_failures",
                "",
                NOW + 61 * MIN,
                ON_CALL,
            )
            assert Alert.objects.get().silenced_by.startswith("silence until 2026-03-10 13:01 UTC by telegram:4242")
            assert evaluate(NOW + 60 * MIN) == []
            assert evaluate(NOW + 65 * MIN) == []  # the silence is over; the reminder is due at four hours
            assert Alert.objects.get().silenced_by == ""
        assert [e["event"] for e in read_audit("production_alerts")] == [
            "alert_firing",
            "alert_silenced",
            "alert_unsilenced",
        ]

    def test_silence_morning_lasts_until_nine_tomorrow_in_the_time_zone(self, on_commit, settings):
        settings.TIME_ZONE = "America/New_York"
        alert, message = firing()
        # 23:30 UTC on the 10th is 19:30 in New York: until 09:00 there on the 11th, 13:00 UTC (EDT).
        answer = press("silence_morning", alert.pk, message=message, now=datetime.fromisoformat("2026-03-10T23:30Z"))
        assert Silence.objects.get().until == datetime.fromisoformat("2026-03-11T13:00Z")
        assert answer.notice.startswith("Silenced until ") and answer.notice.endswith(" by telegram:4242")

    def test_an_unknown_or_resolved_alert_is_a_notice_and_nothing_changes(self, on_commit):
        alert, message = firing()
        for target in ("999999", "x", "1;DROP TABLE", "9" * 40, "", "１"):
            assert press("ack", target, message=message) == ButtonAnswer(notice="This alert no longer exists.")
        evaluate(NOW + 5 * MIN, holds=False)
        for action in ("ack", "silence_1h", "silence_morning"):
            answer = press(action, alert.pk, message=message)
            assert answer.notice == "webhook_failures is resolved already: nothing to do."
            assert answer.text is None
        assert not Silence.objects.exists()
        assert Alert.objects.get().acknowledged_at is None
        assert not AlertTransition.objects.filter(to_state__in=["acknowledged", "silenced"]).exists()

    def test_other_actions_are_not_ours(self, on_commit):
        alert, _ = firing()
        assert press("refund", alert.pk) is None

    def test_without_the_message_the_alert_still_changes(self, on_commit):
        alert, _ = firing()
        answer = press("ack", alert.pk, message=None)
        assert answer.text is None and answer.notice.startswith("Acknowledged by telegram:4242")


@pytest.mark.django_db(transaction=True)
def test_a_press_during_an_evaluation_waits_for_it_and_is_not_lost(monkeypatch, settings):
    """The evaluation holds the alerts while it decides; an acknowledgement pressed meanwhile lands after it."""
    settings.ALERT_REPEAT_HOURS = 1
    assert evaluate(NOW) == ["firing:webhook_failures"]
    alert_id = Alert.objects.get().pk
    inside, release = threading.Event(), threading.Event()
    real = alerts_module.selectors.silencers

    def slow_silencers(**kwargs):  # runs inside the evaluation's transaction, after the rows were locked
        inside.set()
        assert release.wait(10)
        return real(**kwargs)

    monkeypatch.setattr(alerts_module.selectors, "silencers", slow_silencers)
    results = {}

    def evaluation():
        try:
            condition(NOW + 60 * MIN)
            results["evaluation"] = alerts_evaluate(now=NOW + 60 * MIN).notified
        finally:
            connections.close_all()

    def acknowledge():
        try:
            assert inside.wait(10)
            results["ack"] = alert_acknowledge(alert_id=alert_id, by=ON_CALL, now=NOW + 61 * MIN).acknowledged_by
        finally:
            connections.close_all()

    threads = [threading.Thread(target=evaluation), threading.Thread(target=acknowledge)]
    for thread in threads:
        thread.start()
    threads[1].join(0.5)
    blocked = threads[1].is_alive()  # the press waits for the evaluation's transaction
    release.set()
    for thread in threads:
        thread.join(20)
    assert blocked
    assert results == {"evaluation": ["reminder:webhook_failures"], "ack": ON_CALL}
    alert = Alert.objects.get()
    assert (alert.acknowledged_by, alert.acknowledged_at, alert.last_notified_at) == (
        ON_CALL,
        NOW + 61 * MIN,
        NOW + 60 * MIN,
    )
    assert list(alert.transitions.order_by("at", "id").values_list("to_state", flat=True)) == [
        "firing",
        "acknowledged",
    ]
    connection.close()


@pytest.mark.django_db(transaction=True)
def test_two_presses_at_once_acknowledge_once(settings):
    assert evaluate(NOW) == ["firing:webhook_failures"]
    alert_id = Alert.objects.get().pk
    start = threading.Barrier(2)
    answers = []

    def tap(user):
        try:
            start.wait(5)
            answers.append(
                telegram_button.send(
                    sender=TelegramMessage, action="ack", target=str(alert_id), by=user, message=None, now=NOW + MIN
                )
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=tap, args=(actor_telegram(n),)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    notices = sorted(answer.notice for sent in answers for _, answer in sent if answer is not None)
    assert len(notices) == 2
    assert notices[0].startswith("Acknowledged by telegram:")
    assert notices[1].startswith("webhook_failures was acknowledged already by telegram:")
    assert AlertTransition.objects.filter(to_state="acknowledged").count() == 1
