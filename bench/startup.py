"""Start-up time: fresh clone → `make run` → first 200 from /livez, and a restart (second `make run`) → /livez.

    .venv/bin/python bench/startup.py [--baseline c83387d] [--rounds 1]

Measures, in the same run on this machine, the baseline commit (before runtime and
development requirements were split and static files were collected only when changed)
and this checkout's HEAD commit (commit first: uncommitted changes are not measured).
Each round and each commit: `git clone` into a new temporary directory, check the commit
out, `make run` on a free port with nothing configured (SQLite, no Redis, a fresh `.env`),
poll `/livez` until it answers 200, stop the whole process group, then `make run` again
in the same clone and poll again. pip's download and wheel caches are whatever this
machine has, warm for both commits (the rounds before warm them for the later ones).
make's output is timestamped line by line, so the report can say where the time went.
Writes bench/out/startup.json; the clones are deleted afterwards.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BASE_DIR, OUT_DIR, free_port, machine  # noqa: E402

# The main branch before this work: one requirements file, collectstatic on every start.
DEFAULT_BASELINE = "c83387d"
LIVEZ_TIMEOUT = 900  # seconds; a fresh clone installs everything
# Phases, by the first line of make's output that starts them.
MARKERS = [
    ("install", "pip install"),
    ("migrate", "manage.py migrate"),
    ("static", "collectstatic"),
    ("serve", "manage.py serve"),
]
# Variables of the calling shell that would change what `make run` does.
UNSET = (
    "DATABASE_URL",
    "REDIS_URL",
    "ENV_FILE",
    "DJANGO_SETTINGS_MODULE",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "LOG_DIR",
    "CACHE_DIR",
)


def git(*args: str, cwd: Path = BASE_DIR) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def livez(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def make_run(clone: Path, log: Path) -> dict:
    """`make run` until /livez answers 200; then stop everything it started. Seconds and phase start times."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in UNSET}
    env.update(PORT=str(port), WEB_CONCURRENCY="2")
    lines: list[tuple[float, str]] = []
    load = os.getloadavg()[0]  # other work on the machine makes every figure slower
    started = time.monotonic()
    process = subprocess.Popen(
        ["make", "run"],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: stopped as a whole below
    )

    def read():
        for line in process.stdout:
            lines.append((time.monotonic() - started, line.rstrip("\n")))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        while not livez(port):
            if process.poll() is not None:
                raise RuntimeError(f"make run exited with {process.returncode}; see {log}")
            if time.monotonic() - started > LIVEZ_TIMEOUT:
                raise RuntimeError(f"/livez did not answer within {LIVEZ_TIMEOUT} s; see {log}")
            time.sleep(0.05)
        seconds = time.monotonic() - started
    finally:
        stop(process)
        reader.join(timeout=10)
        log.write_text("".join(f"{at:8.2f}  {line}\n" for at, line in lines))
    phases = {}
    for name, marker in MARKERS:
        hit = next((at for at, line in lines if marker in line), None)
        if hit is not None:
            phases[name] = round(hit, 2)
    return {"seconds": round(seconds, 2), "phase_starts": phases, "load_average_1m": load}


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to make's process group (make and `manage.py serve`, which stops gunicorn and qcluster)."""
    for sig, wait in ((signal.SIGTERM, 60), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def measure(commit: str, label: str, round_number: int) -> dict:
    scratch = Path(tempfile.mkdtemp(prefix=f"echopilot-startup-{label}-"))
    clone = scratch / "clone"
    try:
        git("clone", "--quiet", str(BASE_DIR), str(clone))
        git("checkout", "--quiet", commit, cwd=clone)
        logs = OUT_DIR / "startup"
        logs.mkdir(parents=True, exist_ok=True)
        fresh = make_run(clone, logs / f"{label}-round{round_number}-fresh.log")
        print(f"  {label}: fresh clone → /livez {fresh['seconds']:.1f} s {fresh['phase_starts']}", flush=True)
        restart = make_run(clone, logs / f"{label}-round{round_number}-restart.log")
        print(f"  {label}: restart → /livez {restart['seconds']:.1f} s {restart['phase_starts']}", flush=True)
        return {"fresh": fresh, "restart": restart}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help=f"baseline commit (default {DEFAULT_BASELINE})")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    commits = {"baseline": git("rev-parse", args.baseline), "ours": git("rev-parse", "HEAD")}
    if git("status", "--porcelain", "--untracked-files=no"):
        print("note: uncommitted changes are not measured (the bench clones HEAD)", flush=True)
    runs: dict[str, list] = {"baseline": [], "ours": []}
    for round_number in range(1, args.rounds + 1):
        print(f"round {round_number}/{args.rounds}", flush=True)
        for label in ("baseline", "ours"):
            runs[label].append(measure(commits[label], label, round_number))
    medians = {
        label: {kind: statistics.median(run[kind]["seconds"] for run in rounds) for kind in ("fresh", "restart")}
        for label, rounds in runs.items()
    }
    result = {
        "machine": machine(),
        "commits": commits,
        "rounds": args.rounds,
        "runs": runs,
        "median": medians,
        "fresh_ratio": medians["ours"]["fresh"] / medians["baseline"]["fresh"],
        "restart_ratio": medians["ours"]["restart"] / medians["baseline"]["restart"],
    }
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "startup.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(medians, indent=2))
    print(f"fresh ratio {result['fresh_ratio']:.2f}, restart ratio {result['restart_ratio']:.2f}")


if __name__ == "__main__":
    main()
