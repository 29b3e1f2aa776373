"""A real ``manage.py serve`` (what ``make run`` starts): the snapshot API answers numbers from its first second.

The client of the first version compares ``cpu_percent > 85``: a null there breaks it.
"""

import json
import signal
import urllib.request

import pytest

from tests.faults.processes import Serve, app_env, free_port, manage, request, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.own_services]


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def snapshot_lines(log_dir) -> list[dict]:
    path = log_dir / "observability.ndjson"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line for line in map(json.loads, lines) if line["event"] == "snapshot"]


def assert_numbers(snapshot: dict) -> None:
    system = snapshot["system"]
    for name in ("cpu_percent", "mem_percent", "mem_available_gb", "disk_percent", "disk_free_gb"):
        assert isinstance(system[name], float), f"system.{name} = {system[name]!r}"
    assert system["cpu_sampled"] is True
    assert isinstance(snapshot["api"]["latency_sec"], float)


def test_right_after_start_the_get_answers_numbers_and_serve_stores_the_first_snapshot_once(tmp_path):
    port = free_port()
    env = app_env(tmp_path, PORT=str(port), WEB_CONCURRENCY="2", NODE_NAME="start-test")
    manage(env, "migrate", "--noinput")
    serve = Serve(env, tmp_path / "serve.log", "--qclusters", "0")
    try:
        wait_until(lambda: ready(port), timeout=60, message=f"serve did not get ready:\n{serve.output()[-3000:]}")
        status, body, _ = request(port, "GET", "/api/observability/snapshot")
        assert status == 200, body
        assert_numbers(body["snapshot"])  # measured for the answer, or the first stored one: numbers either way

        # Once per serve, not once per gunicorn worker, and taken by serve itself (no qcluster runs here).
        [line] = wait_until(
            lambda: snapshot_lines(tmp_path / "logs"), timeout=60, message=f"no snapshot:\n{serve.output()[-3000:]}"
        )
        assert line["node"] == "start-test"
        assert isinstance(line["system"]["cpu_percent"], float)
        assert line["api"]["healthy"] is True
        status, body, _ = request(port, "GET", "/api/observability/snapshot")
        assert status == 200 and body["snapshot"]["ts_iso"] == line["ts_iso"]
        assert_numbers(body["snapshot"])
        assert len(snapshot_lines(tmp_path / "logs")) == 1
        serve.signal(signal.SIGTERM)
        assert serve.process.wait(timeout=60) == 0
    finally:
        serve.kill_everything()
