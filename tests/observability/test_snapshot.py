"""Snapshots: the original contract's fields and types, a real API probe, a GET that changes nothing, a POST that takes one."""

import json
import os
import socket
import subprocess
import sys
import urllib.error
from collections import namedtuple
from datetime import timedelta
from io import StringIO

import psutil
import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from echopilot.models import Heartbeat
from observability import snapshots, system
from observability.models import Snapshot
from tests.constants import NOW
from tests.faults.processes import BASE_DIR

CONTRACT_FIELDS = {
    ("system", "cpu_percent"): (float,),
    ("system", "mem_percent"): (float,),
    ("system", "mem_available_gb"): (float,),
    ("system", "disk_percent"): (float,),
    ("system", "disk_free_gb"): (float,),
    ("api", "healthy"): (bool,),
    ("api", "latency_sec"): (float,),
    ("health", "governance_status"): (str,),
    ("health", "ops_warnings"): (list,),
    ("health", "overall"): (str,),
}


@pytest.fixture
def no_blocking_cpu(monkeypatch):
    """Fails the test if anything samples the CPU over an interval (that blocks the caller)."""
    real = psutil.cpu_percent

    def guarded(interval=None, *args, **kwargs):
        if interval:
            raise AssertionError(f"blocking psutil.cpu_percent(interval={interval}) in a request")
        return real(interval, *args, **kwargs)

    monkeypatch.setattr(psutil, "cpu_percent", guarded)


@pytest.mark.django_db(transaction=True)
def test_a_snapshot_has_the_contracts_fields_with_their_types_and_probes_the_api(settings, live_server, log_dir):
    settings.PUBLIC_BASE_URL = live_server.url
    data = snapshots.snapshot_take(blocking_cpu=False, now=NOW).data
    assert data["ts"] == int(NOW.timestamp()) and data["ts_iso"] == "2026-03-10T12:00:00.000Z"
    for (block, name), types in CONTRACT_FIELDS.items():
        assert isinstance(data[block][name], types), f"{block}.{name} = {data[block][name]!r}"
    assert data["api"]["healthy"] is True and data["api"]["status"] == 200
    assert data["health"]["overall"] in ("healthy", "degraded", "critical")
    assert data["health"]["governance_status"] in ("healthy", "warming_up", "at_risk", "failing")
    assert set(data["system"]["disks"]) == {"database", "logs"}
    assert isinstance(data["db"]["latency_sec"], float) and data["process"]["rss_mb"] > 0
    assert set(data["scheduler"]) == {"heartbeat_age_sec", "queued", "failed_24h"}
    assert "No scheduler heartbeat" in data["health"]["ops_warnings"]
    assert json.loads((log_dir / "observability.json").read_text())["ts"] == data["ts"]
    line = json.loads((log_dir / "observability.ndjson").read_text())
    assert line["event"] == "snapshot" and line["ts"].endswith("Z")  # the writer's ISO time, not the snapshot's


@pytest.mark.django_db(transaction=True)
def test_a_fresh_install_is_warming_up_not_critical(settings, live_server, log_dir):
    """Minutes after the first migrate, with the scheduler beating: the original read "Overall critical" here."""
    settings.PUBLIC_BASE_URL = live_server.url
    now = timezone.now()  # this test database was migrated moments ago: a fresh install
    for minute in range(3):
        Heartbeat.objects.create(node="n", pid=1, created_at=now - timedelta(seconds=20 + 60 * minute))
    data = snapshots.snapshot_take(blocking_cpu=False, now=now).data
    assert data["health"]["governance_status"] == "warming_up"
    assert data["health"]["overall"] != "critical"
    assert not any(warning.startswith("Governance") for warning in data["health"]["ops_warnings"])
    governance = data["governance"]
    assert governance["status"] == "warming_up" and governance["failing"] == []
    assert isinstance(governance["kpis"]["scheduler_uptime"]["value"], float)  # numbers stay numbers
    assert governance["warming_up_until"].endswith("Z")
    stored = json.loads((log_dir / "observability.json").read_text())
    assert stored["governance"]["kpis"]["scheduler_uptime"]["status"] == "warming_up"


@pytest.mark.django_db
def test_an_unreachable_api_makes_the_snapshot_critical(probe_down):
    data = snapshots.snapshot_take(blocking_cpu=False, now=NOW).data
    assert data["api"]["healthy"] is False and data["api"]["status"] is None
    url = data["api"]["url"]
    assert data["api"]["error"] == "connection refused"
    assert f"API probe of {url} failed: connection refused" in data["health"]["ops_warnings"]
    assert data["health"]["overall"] == "critical"


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (urllib.error.URLError(TimeoutError("timed out")), "timed out after 2.5 s"),
        (TimeoutError("timed out"), "timed out after 2.5 s"),
        (urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")), "connection refused"),
        (urllib.error.URLError(socket.gaierror(-2, "Name or service not known")), "host name not found"),
        (ValueError("unknown url type: 'ftp'"), "ValueError: unknown url type: 'ftp'"),
    ],
)
def test_a_failed_probe_says_why_in_plain_words(exc, text):
    assert system.probe_error_text(exc, timeout=2.5) == text


@pytest.mark.django_db
def test_a_probe_answered_with_an_error_status_says_the_status(settings, live_server):
    settings.PUBLIC_BASE_URL = live_server.url + "/no-such-page"
    probe = system.api_probe()
    assert probe["healthy"] is False and probe["status"] == 404 and probe["error"] == "HTTP 404"


def _writes(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].lstrip().split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]


def _assert_numbers(data: dict) -> None:
    """Every number the README and the schema document is a number (the seed's clients compare them)."""
    for (block, name), types in CONTRACT_FIELDS.items():
        assert isinstance(data[block][name], types), f"{block}.{name} = {data[block][name]!r}"
    assert data["system"]["cpu_sampled"] is True


@pytest.mark.django_db
def test_the_get_reads_the_stored_snapshot_and_writes_nothing(api, monkeypatch, log_dir):
    stored = Snapshot.objects.create(taken_at=timezone.now() - timedelta(minutes=30), data={"ts": 1, "health": {}})

    def refuse(**kwargs):
        raise AssertionError("a GET with a stored snapshot must not measure anything")

    monkeypatch.setattr(snapshots, "snapshot_measure", refuse)
    with CaptureQueriesContext(connection) as queries:
        body = api.get("/api/observability/snapshot").json()
    assert body["snapshot"] == stored.data
    assert 1790 <= body["age_sec"] <= 1810 and body["stale"] is False
    assert _writes(queries.captured_queries) == [] and Snapshot.objects.count() == 1
    assert not log_dir.exists() or list(log_dir.iterdir()) == []


@pytest.mark.django_db(transaction=True)
def test_with_none_stored_the_get_measures_one_with_numbers_and_stores_nothing(api, settings, live_server, log_dir):
    """The first seconds of a new installation: every documented number is a number, and nothing is written."""
    settings.PUBLIC_BASE_URL = live_server.url
    with CaptureQueriesContext(connection) as queries:
        response = api.get("/api/observability/snapshot")
    assert response.status_code == 200
    body = response.json()
    _assert_numbers(body["snapshot"])
    assert body["snapshot"]["api"]["healthy"] is True
    assert body["age_sec"] == 0 and body["stale"] is False
    assert _writes(queries.captured_queries) == []
    assert Snapshot.objects.count() == 0
    assert not (log_dir / "observability.ndjson").exists() and not (log_dir / "observability.json").exists()


@pytest.mark.django_db
def test_an_old_snapshot_is_stale(api):
    Snapshot.objects.create(taken_at=timezone.now() - timedelta(hours=3), data={"ts": 1})
    assert api.get("/api/observability/snapshot").json()["stale"] is True


@pytest.mark.django_db
def test_fresh_on_a_get_is_refused_and_points_to_post(api):
    for value in ("1", "0", ""):
        response = api.get(f"/api/observability/snapshot?fresh={value}")
        assert response.status_code == 400
        body = response.json()
        assert body["ok"] is False and body["error"] == "validation_error"
        assert "POST /api/observability/snapshot" in body["fields"]["fresh"][0]
    assert Snapshot.objects.count() == 0


@pytest.mark.django_db
def test_a_post_takes_a_fresh_snapshot_without_a_long_cpu_sample(
    api, probe_down, no_blocking_cpu, read_audit, django_capture_on_commit_callbacks
):
    Snapshot.objects.create(taken_at=timezone.now() - timedelta(hours=1), data={"ts": 1})
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/observability/snapshot")
    assert response.status_code == 201
    body = response.json()
    _assert_numbers(body["snapshot"])
    assert body["age_sec"] == 0 and body["stale"] is False
    assert body["snapshot"]["api"]["healthy"] is False  # the probe's answer, as measured
    assert Snapshot.objects.count() == 2
    assert api.get("/api/observability/snapshot").json()["snapshot"] == body["snapshot"]
    assert [line["event"] for line in read_audit("observability")] == ["snapshot"]


@pytest.mark.django_db
def test_a_post_needs_the_api_key(anon):
    assert anon.post("/api/observability/snapshot").status_code == 401
    assert Snapshot.objects.count() == 0


@pytest.mark.django_db
def test_the_schema_documents_the_get_without_fresh_and_the_post(api):
    schema = api.get("/api/schema/?format=json").json()
    path = schema["paths"]["/api/observability/snapshot"]
    assert [parameter["name"] for parameter in path["get"].get("parameters", [])] == []
    assert "200" in path["get"]["responses"] and "201" in path["post"]["responses"]
    assert "requestBody" not in path["post"]
    cpu = schema["components"]["schemas"]["System"]["properties"]["cpu_percent"]
    assert cpu["type"] == "number" and not cpu.get("nullable")


CpuTimes = namedtuple("CpuTimes", "user system idle")


@pytest.fixture
def cpu_clock(monkeypatch, no_blocking_cpu):
    """psutil.cpu_times() answers the given readings in turn; ``time.sleep`` is recorded, not slept."""
    readings, waited = [], []
    monkeypatch.setattr(system.psutil, "cpu_times", lambda: readings.pop(0))
    monkeypatch.setattr(system.time, "sleep", waited.append)
    return readings, waited


def test_the_cpu_sampler_covers_the_time_since_the_previous_reading(monkeypatch, cpu_clock):
    """Primed at process start, the first reading needs no wait; every reading is the next one's start."""
    readings, waited = cpu_clock
    readings += [CpuTimes(100.0, 50.0, 850.0), CpuTimes(130.0, 60.0, 910.0), CpuTimes(131.0, 60.0, 919.0)]
    system.cpu_sampler_prime()
    monkeypatch.setattr(system, "_cpu_previous", (system.time.monotonic() - 5, system._cpu_previous[1]))
    assert system.cpu_percent_since_previous() == 40.0  # 40 of 100 CPU seconds busy since the priming
    assert waited == [0.0]
    monkeypatch.setattr(system, "_cpu_previous", (system.time.monotonic() - 5, system._cpu_previous[1]))
    assert system.cpu_percent_since_previous() == 10.0  # since the previous reading, not since the priming


def test_the_cpu_sampler_waits_out_a_reading_younger_than_a_quarter_second(cpu_clock):
    readings, waited = cpu_clock
    readings += [CpuTimes(100.0, 50.0, 850.0), CpuTimes(100.1, 50.0, 850.4)]
    system.cpu_sampler_prime()
    assert system.cpu_percent_since_previous() == 20.0
    assert len(waited) == 1 and system.CPU_MIN_SECONDS - 0.05 < waited[0] <= system.CPU_MIN_SECONDS


def test_the_cpu_sampler_never_averages_over_more_than_ten_minutes(monkeypatch, cpu_clock):
    readings, waited = cpu_clock
    readings += [CpuTimes(100.0, 0.0, 400.0), CpuTimes(100.5, 0.0, 400.5)]
    long_ago = CpuTimes(0.0, 0.0, 0.0)._asdict()
    monkeypatch.setattr(system, "_cpu_previous", (system.time.monotonic() - 601, long_ago))
    assert system.cpu_percent_since_previous() == 50.0  # a fresh quarter-second sample, not 20% since long ago
    assert len(waited) == 1 and waited[0] > system.CPU_MIN_SECONDS - 0.05


def test_every_django_process_primes_the_cpu_sampler_at_start():
    code = "import django; django.setup(); from observability import system; print(system._cpu_previous is not None)"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True)
    assert done.stdout.strip() == "True", done.stderr


@pytest.mark.django_db
def test_the_history_filters_by_since_and_limits(api):
    for hours in range(5):
        Snapshot.objects.create(taken_at=NOW - timedelta(hours=hours), data={"ts": hours})
    body = api.get("/api/observability/snapshots", {"since": (NOW - timedelta(hours=2, minutes=30)).isoformat()}).json()
    assert [row["ts"] for row in body["results"]] == [0, 1, 2]
    assert api.get("/api/observability/snapshots?limit=1").json()["count"] == 1
    assert api.get("/api/observability/snapshots?limit=0").status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/observability/snapshots?since=", "since"),
        ("/api/observability/snapshots?limit=", "limit"),
    ],
)
def test_a_parameter_without_a_value_is_refused(api, monkeypatch, url, field):
    """Not read as absent: ?since= listed everything, which is not what was asked."""
    monkeypatch.setattr(snapshots, "snapshot_take", lambda **kwargs: pytest.fail("nothing is taken"))
    response = api.get(url)
    assert response.status_code == 400 and response.json()["fields"] == {field: ["This field may not be blank."]}


@pytest.mark.django_db
def test_the_command_takes_one_and_prints_it(probe_down, monkeypatch):
    monkeypatch.setattr(system, "cpu_percent_blocking", lambda: 12.5)  # the command's real 1-second sample
    out = StringIO()
    call_command("observability_snapshot", stdout=out)
    data = json.loads(out.getvalue())
    assert data["system"]["cpu_percent"] == 12.5 and data["system"]["cpu_sampled"] is True
    assert Snapshot.objects.count() == 1
