"""Retention deletes only what is old; self-heal requeues stuck messages and replays failed webhooks."""

import gzip
import os
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Failure, Success

from echopilot.models import Counter, Heartbeat
from notifications.models import DeliveryFeedback, Status, Suppression, TelegramUpdate
from observability.housekeeping import retention_apply, self_heal_run
from observability.models import Alert, Snapshot
from payments.models import Payment, WebhookEvent, WebhookRejection
from tests.factories import make_email
from tests.payments import stripe_events

pytestmark = pytest.mark.django_db
DAY = 86400


def old_and_new(now):
    old, new = now - timedelta(days=91), now - timedelta(days=89)
    for at in (old, new):
        Snapshot.objects.create(taken_at=at, data={})
        Success.objects.create(id=f"s{at:%j}", name="t", func="f", started=at, stopped=at, success=True)
        Failure.objects.create(id=f"f{at:%j}", name="t", func="f", started=at, stopped=at, success=False)
        Alert.objects.create(
            rule=f"r{at:%j}", status="resolved", severity="warning", summary="", started_at=at,
            last_evaluated_at=at, resolved_at=at,
        )  # fmt: skip
        WebhookRejection.objects.create(reason="invalid_signature", minute=at.replace(second=0, microsecond=0), count=5)
        Alert.objects.create(
            rule=f"i{at:%j}", status="inactive", severity="warning", summary="", last_evaluated_at=at
        )  # fmt: skip
        TelegramUpdate.objects.create(update_id=at.toordinal(), kind="callback_query", outcome="acted", received_at=at)
        DeliveryFeedback.objects.create(
            provider="postmark", event_id=f"e{at:%j}", event_type="bounced", outcome="recorded", received_at=at
        )
        Suppression.objects.create(address=f"dead{at:%j}@example.com", reason="bounced", created_at=at)
    Alert.objects.create(
        rule="still", status="firing", severity="critical", summary="", started_at=old, last_evaluated_at=now
    )
    Counter.objects.create(name="window ended", expires_at=now)
    Counter.objects.create(name="window open", expires_at=now + timedelta(seconds=1))
    Counter.objects.create(name="audit:write_failures")


def test_retention_deletes_only_rows_past_the_limit_in_batches(settings):
    now = timezone.now()
    old_and_new(now)
    done = retention_apply(now=now, batch=1)
    assert done["rows"] == {
        "heartbeats": 0, "snapshots": 1, "task_successes": 1, "task_failures": 1, "resolved_alerts": 1,
        "inactive_alerts": 1, "webhook_rejections": 1, "telegram_updates": 1, "delivery_feedback": 1,
        "expired_counters": 1,
    }  # fmt: skip
    assert Snapshot.objects.count() == Success.objects.count() == WebhookRejection.objects.count() == 1
    assert Failure.objects.count() == 1
    assert set(Alert.objects.values_list("rule", flat=True)) == {
        f"r{now - timedelta(days=89):%j}", f"i{now - timedelta(days=89):%j}", "still"
    }  # fmt: skip
    assert TelegramUpdate.objects.count() == DeliveryFeedback.objects.count() == 1
    assert Suppression.objects.count() == 2  # the list is kept, however old
    assert set(Counter.objects.values_list("name", flat=True)) == {"window open", "audit:write_failures"}


def test_retention_prunes_heartbeats_past_their_own_retention_in_hours(settings):
    settings.HEARTBEAT_RETENTION_HOURS = 48
    now = timezone.now()
    for hours in (24 * 91, 49, 47, 1):
        Heartbeat.objects.create(node="n", pid=1, created_at=now - timedelta(hours=hours))
    done = retention_apply(now=now, batch=1)
    assert done["rows"]["heartbeats"] == 2
    kept = sorted(now - at for at in Heartbeat.objects.values_list("created_at", flat=True))
    assert kept == [timedelta(hours=1), timedelta(hours=47)]


def test_retention_compresses_and_deletes_rotated_files_but_never_the_live_ones(log_dir):
    now = timezone.now()
    log_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "payments.ndjson": 200,  # live, however old
        "payments.ndjson.1": 2,  # rotated two days ago: compressed
        "payments.ndjson.2.gz": 50,  # compressed, within the limit: kept
        "payments.ndjson.3.gz": 91,  # past the limit: deleted
        "emails.ndjson.1": 0.5,  # rotated today: left as it is
        "observability.json": 200,
    }
    for name, days in files.items():
        path = log_dir / name
        path.write_bytes(gzip.compress(b'{"a":1}\n') if name.endswith(".gz") else b'{"a":1}\n')
        os.utime(path, (now.timestamp() - days * DAY,) * 2)
    done = retention_apply(now=now)
    assert done["files"] == {"deleted": ["payments.ndjson.3.gz"], "compressed": ["payments.ndjson.1"]}
    assert sorted(path.name for path in log_dir.iterdir()) == [
        "emails.ndjson.1",
        "observability.json",
        "payments.ndjson",
        "payments.ndjson.1.gz",
        "payments.ndjson.2.gz",
    ]
    assert gzip.decompress((log_dir / "payments.ndjson.1.gz").read_bytes()) == b'{"a":1}\n'


def test_self_heal_requeues_stuck_emails_and_replays_failed_webhooks(settings, on_commit, read_audit):
    now = timezone.now()
    make_email(status=Status.SENDING, attempts=1, claimed_at=now - timedelta(hours=1))
    event = stripe_events.succeeded("evt_heal", pi="pi_heal")
    WebhookEvent.objects.create(
        event_id="evt_heal", type=event["type"], payload=event, status="failed",
        last_error="OperationalError: database is locked", received_at=now - timedelta(hours=2),
    )  # fmt: skip
    with on_commit(execute=True):
        done = self_heal_run(now=now)
    assert done["emails"] == {"requeued": 1}
    assert done["webhooks"] == {"processed": 1}
    assert Payment.objects.get(provider_id="pi_heal").status == "succeeded"
    assert read_audit("observability")[-1]["event"] == "self_heal"
