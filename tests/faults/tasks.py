"""Tasks for the qcluster fault tests: they record in a file what ran, and where."""

import os
import time
from pathlib import Path


def record_and_sleep(path: str, seconds: float) -> str:
    with Path(path).open("a") as log:
        log.write("start\n")
    time.sleep(seconds)
    with Path(path).open("a") as log:
        log.write("done\n")
    return f"slept {seconds}s"


def record_node(path: str) -> str:
    """Append the name of the node (qcluster) that ran this task to ``path``, one line per run."""
    node = os.environ.get("NODE_NAME", "?")
    with Path(path).open("a") as log:
        log.write(f"{node}\n")
    return node
