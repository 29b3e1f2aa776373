"""Retention deletes only what is old; self-heal requeues stuck messages and replays failed webhooks."""

import gzip
import os
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Failure, Success

from echopilot.models import Heartbeat
from notifications.models import Status
from observability.models import Alert, Snapshot
from observability.services import retention, self_heal
from payments.models import Payment, WebhookRejection
from tests.factories import (
    make_alert,
    make_email,
    make_heartbeat,
    make_snapshot,
    make_webhook_event,
    make_webhook_rejection,
)
from tests.payments import stripe_events

pytestmark = pytest.mark.django_db
DAY = 86400


def old_and_new(now):
    old, new = now - timedelta(days=91), now - timedelta(days=89)
    for at in (old, new):
        make_snapshot(taken_at=at)
        Success.objects.create(id=f"s{at:%j}", name="t", func="f", started=at, stopped=at, success=True)
        Failure.objects.create(id=f"f{at:%j}", name="t", func="f", started=at, stopped=at, success=False)
        make_alert(f"r{at:%j}", status="resolved", severity="warning", started_at=at, resolved_at=at)
        make_webhook_rejection(reason="invalid_signature", minute=at.replace(second=0, microsecond=0), count=5)
    make_alert("still", status="firing", severity="critical", started_at=old, last_evaluated_at=now)


def test_retention_deletes_only_rows_past_the_limit_in_batches(settings):
    now = timezone.now()
    old_and_new(now)
    done = retention(now=now, batch=1)
    assert done["rows"] == {
        "heartbeats": 0, "snapshots": 1, "task_successes": 1, "task_failures": 1, "resolved_alerts": 1,
        "webhook_rejections": 1,
    }  # fmt: skip
    assert Snapshot.objects.count() == Success.objects.count() == WebhookRejection.objects.count() == 1
    assert Failure.objects.count() == 1
    assert set(Alert.objects.values_list("rule", flat=True)) == {f"r{now - timedelta(days=89):%j}", "still"}


def test_retention_prunes_heartbeats_past_their_own_retention_in_hours(settings):
    settings.HEARTBEAT_RETENTION_HOURS = 48
    now = timezone.now()
    for hours in (24 * 91, 49, 47, 1):
        make_heartbeat(created_at=now - timedelta(hours=hours))
    done = retention(now=now, batch=1)
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
    done = retention(now=now)
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
    make_webhook_event(
        event, status="failed", last_error="OperationalError: database is locked", received_at=now - timedelta(hours=2)
    )
    with on_commit(execute=True):
        done = self_heal(now=now)
    assert done["emails"] == {"requeued": 1}
    assert done["webhooks"] == {"processed": 1}
    assert Payment.objects.get(provider_id="pi_heal").status == "succeeded"
    assert read_audit("observability")[-1]["event"] == "self_heal"
