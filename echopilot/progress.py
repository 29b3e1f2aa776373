"""Progress of long management commands: a bar on a terminal, plain periodic lines otherwise.

Under ``make``, CI, ``nohup`` or a pipe there is no terminal: a bar would either draw
nothing (tqdm's ``disable=None``) or fill the log with carriage returns. There,
``progress()`` writes a plain line at every tenth of the work and at least every
``LINE_EVERY_SECONDS``, and a last one when the work ends (also when it fails)::

    seed_demo: 40,000/100,000 payments (40%, 12 s)

Every long command reports through this one function, to its ``self.stderr``, so its
``self.stdout`` keeps only the result.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TextIO

from tqdm import tqdm

STEPS = 10  # a line at every tenth of the work
LINE_EVERY_SECONDS = 30.0  # and at least this often while it runs


class Progress(Protocol):
    def update(self, n: int = 1) -> None: ...


class _Lines:
    """One plain line per tenth of the work (or per LINE_EVERY_SECONDS), and one at the end."""

    def __init__(self, *, total: int, label: str, unit: str, stream: TextIO):
        self.total, self.label, self.unit, self.stream = total, label, unit, stream
        self.done = 0
        self.started = self.last_line = time.monotonic()
        self.next_step = 1
        self.printed_at = -1

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        reached_step = self.total > 0 and self.done * STEPS >= self.next_step * self.total
        if reached_step or now - self.last_line >= LINE_EVERY_SECONDS:
            self._line(now)

    def close(self) -> None:
        if self.printed_at != self.done:
            self._line(time.monotonic())

    def _line(self, now: float) -> None:
        percent = 100 * self.done // self.total if self.total > 0 else 100
        self.stream.write(
            f"{self.label}: {self.done:,}/{self.total:,} {self.unit} ({percent}%, {now - self.started:.0f} s)\n"
        )
        self.stream.flush()
        self.printed_at, self.last_line = self.done, now
        if self.total > 0:
            self.next_step = self.done * STEPS // self.total + 1


def _is_terminal(stream) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()


@contextmanager
def progress(*, total: int, label: str, unit: str, stream) -> Iterator[Progress]:
    """Report ``update(n)`` calls against ``total`` on ``stream`` (a file or a command's ``self.stderr``)."""
    raw = getattr(stream, "_out", stream)  # a command's OutputWrapper would add a newline to every bar redraw
    if _is_terminal(raw):
        bar = tqdm(total=total, desc=label, unit=f" {unit}", unit_scale=True, file=raw, dynamic_ncols=True)
    else:
        bar = _Lines(total=total, label=label, unit=unit, stream=raw)
    try:
        yield bar
    finally:
        bar.close()
