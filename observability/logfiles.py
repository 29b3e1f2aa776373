"""Reading the NDJSON audit log back, and housekeeping of its rotated files.

Writing stays in ``echopilot.audit``. The live ``<stream>.ndjson`` files are read
here but never changed; only rotated siblings (``<stream>.ndjson.1``,
``<stream>.ndjson-20250101``, ``....gz``) are compressed or deleted.
"""

import gzip
import json
import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from django.conf import settings


def stream_files(stream: str) -> list[Path]:
    """The live file and its rotated siblings, oldest-looking last."""
    directory = Path(settings.LOG_DIR)
    live = directory / f"{stream}.ndjson"
    rotated = sorted(path for path in directory.glob(f"{stream}.ndjson?*") if path.is_file())
    return ([live] if live.is_file() else []) + rotated


def read_events(stream: str) -> Iterator[dict]:
    """Every parseable event of a stream, line by line (gzip-compressed files included)."""
    for path in stream_files(stream):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    yield event


def rotated_files() -> list[Path]:
    return sorted(path for path in Path(settings.LOG_DIR).glob("*.ndjson?*") if path.is_file())


def rotated_housekeep(*, now: datetime, compress_after_sec: float, delete_after_sec: float) -> dict[str, list[str]]:
    """Delete rotated files older than ``delete_after_sec``; gzip the other uncompressed ones older than ``compress_after_sec``."""
    done = {"deleted": [], "compressed": []}
    for path in rotated_files():
        age = now.timestamp() - path.stat().st_mtime
        if age > delete_after_sec:
            path.unlink()
            done["deleted"].append(path.name)
        elif age > compress_after_sec and path.suffix != ".gz":
            target = path.with_name(path.name + ".gz")
            with open(path, "rb") as source, gzip.open(target, "wb") as sink:
                shutil.copyfileobj(source, sink)
            stat = path.stat()
            os.utime(target, (stat.st_atime, stat.st_mtime))  # keeps its age for the deletion later
            path.unlink()
            done["compressed"].append(path.name)
    return done
