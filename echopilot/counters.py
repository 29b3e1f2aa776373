"""Counters in the database, shared by every process and node: rate limits and plain counts.

``counter_incr`` adds one with a single ``UPDATE ... SET value = value + 1`` (the row
lock makes parallel increments queue), or inserts the first count; when two callers
insert at once, the loser's unique-name error sends it back to the update. That holds
on PostgreSQL (row locks) and on SQLite (``BEGIN IMMEDIATE``: one writer at a time),
with no cache and no file locks.

``rate_limit_hit`` counts one use in a fixed window (aligned to the epoch, so an hour
window is a clock hour) in a counter that expires with the window; ``counters_prune``
(called by retention) deletes the expired ones. The identity limited (an email, an API
key's label) is stored only as an HMAC keyed by ``SECRET_KEY``.
"""

from datetime import UTC, datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import salted_hmac

from echopilot.models import Counter


def counter_incr(*, name: str, expires_at: datetime | None = None, now: datetime | None = None) -> int:
    """Add one to the counter ``name`` (created at 1, with ``expires_at``, if missing); returns the new value."""
    now = now or timezone.now()
    with transaction.atomic():
        if not Counter.objects.filter(name=name).update(value=F("value") + 1, updated_at=now):
            try:
                with transaction.atomic():
                    Counter.objects.create(name=name, value=1, expires_at=expires_at, updated_at=now)
                return 1
            except IntegrityError:  # created by a parallel caller since the update: count into its row
                Counter.objects.filter(name=name).update(value=F("value") + 1, updated_at=now)
        # Our update holds the row until commit, so this reads our own count.
        return Counter.objects.values_list("value", flat=True).get(name=name)


def counter_get(*, name: str) -> int:
    """The counter's value; 0 when it was never counted."""
    return Counter.objects.filter(name=name).values_list("value", flat=True).first() or 0


def rate_limit_hit(*, scope: str, key: str, limit: int, window_seconds: int, now: datetime) -> int | None:
    """Count one use of ``key`` in ``scope``'s current window.

    Returns None while the window's count is at most ``limit``, else the seconds until
    the window ends (for ``Retry-After``). Refused uses count too.
    """
    start = int(now.timestamp()) // window_seconds * window_seconds
    digest = salted_hmac("echopilot.counters.rate_limit", key, algorithm="sha256").hexdigest()
    count = counter_incr(
        name=f"rate:{scope}:{digest}:{start}",
        expires_at=datetime.fromtimestamp(start + window_seconds, UTC),
        now=now,
    )
    if count <= limit:
        return None
    return start + window_seconds - int(now.timestamp())


def counters_prune(*, now: datetime, batch: int = 1000) -> int:
    """Delete counters whose window has ended, ``batch`` rows per statement; returns how many."""
    deleted = 0
    while ids := list(Counter.objects.filter(expires_at__lte=now).values_list("pk", flat=True)[:batch]):
        deleted += Counter.objects.filter(pk__in=ids).delete()[0]
    return deleted
