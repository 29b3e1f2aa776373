"""A task for the qcluster fault test: records each attempt in a file, sleeps, records that it finished."""

import time
from pathlib import Path


def record_and_sleep(path: str, seconds: float) -> str:
    with Path(path).open("a") as log:
        log.write("start\n")
    time.sleep(seconds)
    with Path(path).open("a") as log:
        log.write("done\n")
    return f"slept {seconds}s"
