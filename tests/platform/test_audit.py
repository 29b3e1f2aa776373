"""The NDJSON audit writer."""

import json
import multiprocessing
import os
from pathlib import Path

import pytest
from django.db import OperationalError, transaction

from echopilot import audit
from echopilot.audit import audit_event, audit_events, audit_failure_count, write_latest
from echopilot.models import Counter, Heartbeat


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_an_event_is_one_json_line_with_ts_and_event(log_dir):
    audit_event("fraud_guard", "fraud_check", check_id="fc_1", amount=__import__("decimal").Decimal("10.50"))
    [line] = _lines(log_dir / "fraud_guard.ndjson")
    assert line["event"] == "fraud_check"
    assert line["check_id"] == "fc_1"
    assert line["amount"] == "10.50"
    assert line["ts"].endswith("Z") and "T" in line["ts"]


def test_unknown_streams_are_a_programming_error():
    with pytest.raises(ValueError, match="unknown audit stream"):
        audit_event("nope", "x")


def _writer(log_dir: str, worker: int, count: int, barrier) -> None:
    from django.conf import settings

    settings.LOG_DIR = log_dir
    barrier.wait()
    for index in range(count):
        # Lines of different sizes, up to a few KiB, to give interleaving every chance.
        audit_event("emails", "load", worker=worker, index=index, pad="x" * (index % 4000))


@pytest.mark.django_db
def test_a_batch_is_one_line_per_record_and_a_bad_record_is_counted_not_written(
    log_dir, django_capture_on_commit_callbacks
):
    before = audit_failure_count()
    with django_capture_on_commit_callbacks(execute=True):
        audit_events("payments", "demo_seeded", [{"n": 1}, {"n": object()}, {"n": 3}])
    lines = _lines(log_dir / "payments.ndjson")
    assert [(line["event"], line["n"]) for line in lines] == [("demo_seeded", 1), ("demo_seeded", 3)]
    assert audit_failure_count() == before + 1


def test_a_field_cannot_replace_the_lines_own_time():
    with pytest.raises(ValueError, match="named ts"):
        audit_event("payments", "x", ts=1)


@pytest.mark.slow
def test_four_processes_writing_at_once_leave_only_whole_lines(log_dir):
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(4)
    workers = [context.Process(target=_writer, args=(str(log_dir), n, 5000, barrier)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    lines = _lines(log_dir / "emails.ndjson")  # raises if any line is torn
    assert len(lines) == 20_000
    seen = {(line["worker"], line["index"]) for line in lines}
    assert len(seen) == 20_000


@pytest.mark.django_db(transaction=True)
def test_events_are_written_only_after_the_transaction_commits(log_dir):
    path = log_dir / "payments.ndjson"
    with transaction.atomic():
        Heartbeat.objects.create(node="n", pid=1)
        audit_event("payments", "committed")
        assert not path.exists()
    assert [line["event"] for line in _lines(path)] == ["committed"]


@pytest.mark.django_db(transaction=True)
def test_events_of_a_rolled_back_transaction_are_never_written(log_dir):
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_event("payments", "rolled_back")
        raise RuntimeError("abort")
    audit_event("payments", "after")
    assert [line["event"] for line in _lines(log_dir / "payments.ndjson")] == ["after"]


def _unwritable(settings, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    settings.LOG_DIR = blocker / "logs"


@pytest.mark.django_db
def test_a_failed_write_does_not_raise_and_is_counted(settings, tmp_path, caplog, django_capture_on_commit_callbacks):
    _unwritable(settings, tmp_path)
    before = audit_failure_count()
    with django_capture_on_commit_callbacks(execute=True):
        audit_event("emails", "lost")
        write_latest("observability", {"ok": True})
    assert audit_failure_count() == before + 2
    assert "audit log write" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_write_that_fails_after_the_commit_is_counted_in_the_database(settings, tmp_path):
    _unwritable(settings, tmp_path)
    with transaction.atomic():
        Heartbeat.objects.create(node="n", pid=1)
        audit_event("payments", "lost")
        assert audit_failure_count() == 0  # nothing written yet
    assert audit_failure_count() == 1
    assert Counter.objects.get().name == "audit:write_failures"


@pytest.mark.django_db
def test_a_failed_write_does_not_raise_when_the_count_cannot_be_stored_either(
    settings, tmp_path, caplog, monkeypatch, django_capture_on_commit_callbacks
):
    _unwritable(settings, tmp_path)

    def database_down(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(audit, "counter_incr", database_down)
    with django_capture_on_commit_callbacks(execute=True):
        audit_event("emails", "lost")
    assert "audit log write" in caplog.text and "could not count the audit log failure" in caplog.text


def test_a_rotated_file_is_recreated_by_the_next_event(log_dir):
    audit_event("portal_links", "first")
    (log_dir / "portal_links.ndjson").rename(log_dir / "portal_links.ndjson.1")
    audit_event("portal_links", "second")
    assert [line["event"] for line in _lines(log_dir / "portal_links.ndjson.1")] == ["first"]
    assert [line["event"] for line in _lines(log_dir / "portal_links.ndjson")] == ["second"]


def test_latest_files_are_replaced_whole_and_leave_no_temporary_files(log_dir):
    write_latest("production_alerts", {"run": 1})
    inode = os.stat(log_dir / "production_alerts.json").st_ino
    write_latest("production_alerts", {"run": 2, "alerts": ["a"] * 1000})
    assert json.loads((log_dir / "production_alerts.json").read_text())["run"] == 2
    assert os.stat(log_dir / "production_alerts.json").st_ino != inode  # a rename, not an overwrite
    assert sorted(p.name for p in log_dir.iterdir()) == ["production_alerts.json"]
