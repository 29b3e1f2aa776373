"""Two web nodes and two qclusters on PostgreSQL + Redis behave as one service.

Black-box tests: requests go over HTTP to both nodes, results are read from the
cluster's own database. They need ``DATABASE_URL=postgres://…`` and ``REDIS_URL``
(``.ci/run`` sets both); on SQLite they are skipped.
"""

import os
import secrets
import time
from collections import Counter
from datetime import UTC, datetime

import pytest

from tests.faults.processes import wait_until
from tests.fixtures.cluster import GUARD_MAX_PER_HOUR
from tests.fixtures.database import at_once
from tests.payments import stripe_events as se

pytestmark = [
    pytest.mark.slow,
    pytest.mark.cluster,
    pytest.mark.skipif(
        not (
            os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
            and os.environ.get("REDIS_URL")
        ),
        reason="multi-node tests need DATABASE_URL=postgres://… and REDIS_URL",
    ),
]


def test_fifty_checks_of_one_card_over_both_nodes_allow_exactly_the_hourly_maximum(cluster):
    card = f"card-{secrets.token_hex(4)}"

    def check(index):
        return cluster.post_api(
            index,
            "/api/fraud/check",
            {"email": f"buyer{index}@example.com", "amount": "10.00", "card_fingerprint": card},
        )

    results = at_once(50, check)
    assert [status for status, _ in results] == [200] * 50, results
    decisions = Counter(body["decision"] for _, body in results)
    assert decisions == {"allow": GUARD_MAX_PER_HOUR, "block": 50 - GUARD_MAX_PER_HOUR}
    stored = cluster.query(
        "SELECT decision, count(*) FROM fraud_fraudcheck WHERE card_key = %s GROUP BY decision", [f"card:{card}"]
    )
    assert dict(stored) == decisions


# Issue #15 on two nodes: rule sets stored in the database, written by a third process through the services
# (fraud.rulesets), as an operator's admin would. They stay in force for the tests below, which check no fraud.


def _put_in_force(cluster, note: str, **values) -> str:
    """Draft a version with ``values``, backtest it (inline: the history is small) and activate it; its label."""
    return cluster.shell(
        "from datetime import timedelta\n"
        "from django.utils import timezone\n"
        "from fraud import rulesets\n"
        f"draft = rulesets.ruleset_draft(note={note!r}, by='ops-a', **{values!r})\n"
        "rulesets.backtest_job_create(rules=rulesets.ruleset_config(draft), by='ops-a', ruleset=draft,\n"
        "    since=timezone.now() - timedelta(days=30))\n"
        "print(rulesets.ruleset_activate(ruleset=draft, by='ops-a').label)\n"
    ).strip()


def test_a_one_card_burst_with_every_signal_on_and_a_shadow_allows_exactly_the_hourly_maximum(cluster):
    active = _put_in_force(
        cluster,
        "cluster: every card-testing signal on",
        max_per_hour=GUARD_MAX_PER_HOUR,
        max_cards_per_email_day=100,
        max_emails_per_card_day=100,
        max_declines_per_card_hour=10,
        max_per_ip_hour=1000,
    )
    shadow = cluster.shell(
        "from fraud import rulesets\n"
        "draft = rulesets.ruleset_draft(note='cluster: stricter, in shadow', by='ops-a', max_per_hour=3)\n"
        "print(rulesets.ruleset_shadow_start(ruleset=draft, by='ops-a').label)\n"
    ).strip()
    card = f"card-{secrets.token_hex(4)}"

    def check(index):
        body = {"email": f"tester{index}@example.com", "amount": "10.00", "card_fingerprint": card}
        return cluster.post_api(index, "/api/fraud/check", {**body, "ip": f"10.1.0.{index}"})

    results = at_once(50, check)
    assert [status for status, _ in results] == [200] * 50, results
    decisions = Counter(body["decision"] for _, body in results)
    assert decisions == {"allow": GUARD_MAX_PER_HOUR, "block": 50 - GUARD_MAX_PER_HOUR}
    assert {body["ruleset_version"] for _, body in results} == {active}
    stored = cluster.query(
        "SELECT decision, ruleset_version, shadow_version, shadow_decision FROM fraud_fraudcheck WHERE card_key = %s",
        [f"card:{card}"],
    )
    assert Counter(decision for decision, *_ in stored) == decisions
    assert {(version, shadow_version) for _, version, shadow_version, _ in stored} == {(active, shadow)}
    # The shadow counted under the same locks: its own maximum of 3, exactly.
    assert Counter(row[3] for row in stored) == {"allow": 3, "block": 47}


def test_a_version_activated_elsewhere_decides_the_next_check_on_the_other_node_without_a_restart(cluster):
    def check_on_b():
        card = f"card-{secrets.token_hex(4)}"
        status, body = cluster.post_api(
            1, "/api/fraud/check", {"email": "late@example.com", "amount": "10.00", "card_fingerprint": card}
        )
        assert status == 200, body
        return body

    before = [check_on_b() for _ in range(4)]  # node B's workers know the versions in force now
    assert all(body["decision"] == "allow" for body in before), before
    label = _put_in_force(cluster, "cluster: review everything above 5.00", review_amount="5.00")
    assert label not in {body["ruleset_version"] for body in before}
    # A bound, not a measurement: the version is read by node B's next counting query.
    first = wait_until(
        lambda: (body := check_on_b())["ruleset_version"] == label and body,
        timeout=15,
        message=f"node B never decided by {label}",
    )
    after = [first] + [check_on_b() for _ in range(6)]
    assert {(body["ruleset_version"], body["decision"]) for body in after} == {(label, "review")}


def test_two_hundred_emails_queued_at_once_are_each_delivered_exactly_once(cluster):
    tag = secrets.token_hex(4)
    subjects = [f"cluster {tag} #{index}" for index in range(200)]

    def send(index):
        return cluster.post_api(
            index, "/api/email/send", {"to": "ops@example.com", "subject": subjects[index], "body": "."}
        )

    results = at_once(200, send)
    assert [status for status, _ in results] == [202] * 200, results

    def delivered():
        return [m["message"]["Subject"] for m in cluster.smtp.messages if m["message"]["Subject"] in subjects]

    def unsent():
        return cluster.query(
            "SELECT count(*) FROM notifications_email WHERE subject LIKE %s AND status <> 'sent'", [f"cluster {tag} %"]
        )[0][0]

    deadline = time.monotonic() + 90
    while (len(delivered()) < 200 or unsent()) and time.monotonic() < deadline:
        time.sleep(1)
    duplicates = {subject: count for subject, count in Counter(delivered()).items() if count > 1}
    assert duplicates == {}
    assert sorted(delivered()) == sorted(subjects)
    stored = cluster.query(
        "SELECT status, count(*) FROM notifications_email WHERE subject LIKE %s GROUP BY status", [f"cluster {tag} %"]
    )
    assert dict(stored) == {"sent": 200}


def test_a_webhook_event_delivered_to_both_nodes_at_once_is_processed_once(cluster):
    for round_ in range(5):
        event_id, intent = f"evt_cluster_{secrets.token_hex(4)}", f"pi_cluster_{secrets.token_hex(4)}"
        payload = se.body(se.succeeded(event_id, pi=intent, email=f"buyer{round_}@example.com"))

        def deliver(index, payload=payload):
            headers = {"Content-Type": "application/json", "Stripe-Signature": se.sign(payload)}
            return cluster.post(index, "/api/webhooks/stripe", payload.encode(), headers)

        results = at_once(6, deliver)
        assert [status for status, _ in results] == [200] * 6, results
        assert sorted(body["outcome"] for _, body in results) == ["duplicate"] * 5 + ["processed"]
        events = cluster.query("SELECT status, attempts FROM payments_webhookevent WHERE event_id = %s", [event_id])
        assert events == [("processed", 1)]
        payments = cluster.query("SELECT status FROM payments_payment WHERE provider_id = %s", [intent])
        assert payments == [("succeeded",)]

        def receipts(intent=intent):
            query = "SELECT count(*) FROM notifications_email WHERE idempotency_key = %s"
            return cluster.query(query, [f"receipt:{intent}"])[0][0]

        # The receipt is created by a qcluster's task once the payment committed.
        wait_until(lambda: receipts() > 0, timeout=60, message=f"no receipt for {intent}")
        assert receipts() == 1


def test_a_schedule_due_every_minute_runs_once_per_minute_over_three_minutes(cluster):
    """The heartbeat schedule (every minute) has run exactly once in each period since the cluster started.

    Every heartbeat since start-up counts, so the time the tests above took counts
    toward the three periods. Periods are the schedule's own: they start at its
    ``next_run`` minus whole minutes. A run is enqueued at most 30 s (one scheduler
    pass) after its period starts, so it is recorded inside that period.
    """
    deadline = time.monotonic() + 300
    while True:
        [(next_run,)] = cluster.query("SELECT next_run FROM django_q_schedule WHERE name = 'heartbeat'")
        beats = cluster.query("SELECT created_at, node FROM echopilot_heartbeat ORDER BY created_at")
        # Period k is [next_run + k minutes, next_run + k + 1 minutes); the current one has not ended yet.
        periods = [int((created_at - next_run).total_seconds() // 60) for created_at, _ in beats]
        current = int((datetime.now(UTC) - next_run).total_seconds() // 60)
        complete = list(range(periods[0], current)) if periods else []
        if len(complete) >= 3:
            break
        assert time.monotonic() < deadline, f"fewer than three periods with heartbeats in 5 minutes: {beats}"
        time.sleep(5)
    runs = Counter(periods)
    assert {index: runs[index] for index in complete} == dict.fromkeys(complete, 1), beats
