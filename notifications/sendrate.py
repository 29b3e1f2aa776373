"""The send-rate limit of email: ``EMAIL_RATE_PER_SECOND`` and ``EMAIL_RATE_PER_MINUTE`` (0: no limit).

Every email handed to SMTP first takes one use of the current clock second's
and clock minute's budget, counted in the database (``echopilot.counters``),
so the limit holds across every worker and node, on SQLite and PostgreSQL
alike: at most N emails in each second (and minute) aligned to the epoch. The
second is taken before the minute, so a send refused by the second's budget
does not spend the minute's. An email with no budget left waits for the next
window (its worker sleeps), or, when that is too far off for this pass, goes
back to the queue untouched.

``clock`` and ``sleep`` are module attributes so that a test can run a burst on
a fake clock.
"""

import time
from datetime import UTC, datetime

from django.conf import settings

from echopilot.counters import rate_limit_hit

clock = time.time
sleep = time.sleep


def _limits() -> list[tuple[int, int]]:
    """(limit, window seconds) of each limit in force, the second first."""
    limits = ((settings.EMAIL_RATE_PER_SECOND, 1), (settings.EMAIL_RATE_PER_MINUTE, 60))
    return [(limit, seconds) for limit, seconds in limits if limit]


def send_slot_wait() -> float:
    """Take one send from every budget in force: 0 when taken, else the seconds until the refusing window ends."""
    moment = datetime.fromtimestamp(clock(), UTC)
    now = moment.timestamp()  # the counter's window is computed from the same (microsecond) value
    for limit, seconds in _limits():
        refused = rate_limit_hit(
            scope=f"email_send_{seconds}s", key="all", limit=limit, window_seconds=seconds, now=moment
        )
        if refused is not None:
            return (int(now) // seconds + 1) * seconds - now
    return 0.0


def send_slot_take(*, deadline: float) -> bool:
    """Take a send slot, sleeping for the next window while it comes before ``deadline`` (a ``clock()`` value).

    False when no slot comes in time: the caller sends nothing more in this pass.
    """
    if not _limits():
        return True
    while wait := send_slot_wait():
        if clock() + wait > deadline:
            return False
        sleep(wait)
    return True


def pass_deadline() -> float:
    """How long one delivery pass may wait for the rate limit: half the task timeout, from now."""
    return clock() + settings.Q_CLUSTER["timeout"] / 2
