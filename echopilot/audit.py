"""The NDJSON audit log: the one place that writes under ``LOG_DIR``.

``audit_event(stream, event, **fields)`` appends one JSON object per line to
``LOG_DIR/<stream>.ndjson`` once the surrounding database transaction commits,
so the log never shows what was rolled back; ``audit_events(stream, event, records)``
does the same for many records in one write, for bulk writers. ``write_latest(name, data)``
replaces ``LOG_DIR/<name>.json`` atomically.

Each line (or batch of lines) goes out in a single ``write()`` to a file descriptor opened with
``O_APPEND``; the kernel positions every such write at the end of the file, so
lines from many processes never interleave. The file is opened per event, so
logrotate can move it away at any moment (no ``copytruncate`` needed): the next
event creates a new file.

A failed write never fails the caller: it is logged and counted in the database
(``echopilot.counters``), and ``audit_failure_count()`` reports it to health checks.
"""

import datetime as dt
import json
import logging
import os
import tempfile
import uuid
from collections.abc import Iterable
from decimal import Decimal
from functools import partial
from pathlib import Path

from django.conf import settings
from django.db import transaction

from echopilot.counters import counter_get, counter_incr

logger = logging.getLogger(__name__)

STREAMS = frozenset(
    {
        "admin_logins",
        "emails",
        "fraud_guard",
        "payments",
        "portal_links",
        "observability",
        "production_alerts",
        "task_queue",
        "telegram",
    }
)
LATEST = frozenset({"observability", "production_alerts"})

FAILURES_COUNTER = "audit:write_failures"


def utc_iso(moment: dt.datetime | None = None) -> str:
    """ISO-8601 in UTC with a ``Z`` suffix, millisecond precision."""
    moment = moment or dt.datetime.now(dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _default(value):
    if isinstance(value, dt.datetime):
        return utc_iso(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (Decimal, uuid.UUID, Path)):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def audit_event(stream: str, event: str, **fields) -> None:
    """Append one event to ``LOG_DIR/<stream>.ndjson`` after the transaction commits."""
    audit_events(stream, event, [fields])


def audit_events(stream: str, event: str, records: Iterable[dict]) -> None:
    """Append one line per record, all in one write after the transaction commits (for bulk writers)."""
    if stream not in STREAMS:
        raise ValueError(f"unknown audit stream {stream!r}")
    ts = utc_iso()
    lines = []
    for fields in records:
        if "ts" in fields:  # every line's time is the writer's, in one format
            raise ValueError("an audit field may not be named ts")
        try:
            lines.append(
                json.dumps(
                    {"ts": ts, "event": event, **fields}, default=_default, ensure_ascii=False, separators=(",", ":")
                )
                + "\n"
            )
        except (TypeError, ValueError) as exc:
            _record_failure(stream, exc)
    if lines:
        _after_commit(partial(_append, stream, "".join(lines).encode()))


def write_latest(name: str, data: dict) -> None:
    """Atomically replace ``LOG_DIR/<name>.json`` (temporary file, then rename)."""
    if name not in LATEST:
        raise ValueError(f"unknown latest file {name!r}")
    try:
        body = json.dumps(data, default=_default, ensure_ascii=False, indent=2).encode()
    except (TypeError, ValueError) as exc:
        _record_failure(name, exc)
        return
    _after_commit(partial(_replace, name, body))


def _after_commit(write) -> None:
    """Run ``write`` when the current transaction commits, or now outside one.

    Unlike ``transaction.on_commit`` this never opens a database connection:
    writing an event must not depend on the database being up.
    """
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        connection.on_commit(write)
    else:
        write()


def _append(stream: str, data: bytes) -> None:
    path = Path(settings.LOG_DIR) / f"{stream}.ndjson"
    try:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            written = os.write(fd, data)
        finally:
            os.close(fd)
        if written != len(data):
            raise OSError(f"short write: {written} of {len(data)} bytes")
    except OSError as exc:
        _record_failure(stream, exc)


def _replace(name: str, body: bytes) -> None:
    directory = Path(settings.LOG_DIR)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o640)
            os.replace(tmp, directory / f"{name}.json")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        _record_failure(name, exc)


def _record_failure(stream: str, exc: Exception) -> None:
    logger.error("audit log write to %r failed: %s: %s", stream, type(exc).__name__, exc)
    try:
        counter_incr(name=FAILURES_COUNTER)
    except Exception:  # the database may be failing too; the log line above stays
        logger.exception("could not count the audit log failure")


def audit_failure_count() -> int:
    """How many audit writes have failed since the counter was last reset (0 when it cannot be read)."""
    try:
        return counter_get(name=FAILURES_COUNTER)
    except Exception:
        return 0
