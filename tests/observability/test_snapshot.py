"""Snapshots: the seed's fields and types, a real API probe, never a blocking CPU sample in a request."""

import json
from datetime import timedelta
from io import StringIO

import psutil
import pytest
from django.core.management import call_command
from django.utils import timezone

from observability import services, system
from observability.models import Snapshot
from tests.constants import NOW
from tests.factories import make_heartbeat, make_snapshot

SEED_FIELDS = {
    ("system", "cpu_percent"): (float, type(None)),
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
def test_a_snapshot_has_the_seed_fields_with_their_types_and_probes_the_api(settings, live_server, log_dir):
    settings.PUBLIC_BASE_URL = live_server.url
    data = services.snapshot_take(blocking_cpu=False, now=NOW).data
    assert data["ts"] == int(NOW.timestamp()) and data["ts_iso"] == "2026-03-10T12:00:00.000Z"
    for (block, name), types in SEED_FIELDS.items():
        assert isinstance(data[block][name], types), f"{block}.{name} = {data[block][name]!r}"
    assert data["api"]["healthy"] is True and data["api"]["status"] == 200
    assert data["health"]["overall"] in ("healthy", "degraded", "critical")
    assert data["health"]["governance_status"] in ("healthy", "warming_up", "at_risk", "failing")
    assert set(data["system"]["disks"]) == {"database", "logs"}
    assert isinstance(data["db"]["latency_sec"], float) and data["process"]["rss_mb"] > 0
    assert set(data["scheduler"]) == {"heartbeat_age_sec", "queued", "failed_24h"}
    assert "no scheduler heartbeat" in data["health"]["ops_warnings"]
    assert json.loads((log_dir / "observability.json").read_text())["ts"] == data["ts"]
    line = json.loads((log_dir / "observability.ndjson").read_text())
    assert line["event"] == "snapshot" and line["ts"].endswith("Z")  # the writer's ISO time, not the snapshot's


@pytest.mark.django_db(transaction=True)
def test_a_fresh_install_is_warming_up_not_critical(settings, live_server, log_dir):
    """Minutes after the first migrate, with the scheduler beating: the seed read "Overall critical" here."""
    settings.PUBLIC_BASE_URL = live_server.url
    now = timezone.now()  # this test database was migrated moments ago: a fresh install
    for minute in range(3):
        make_heartbeat(created_at=now - timedelta(seconds=20 + 60 * minute))
    data = services.snapshot_take(blocking_cpu=False, now=now).data
    assert data["health"]["governance_status"] == "warming_up"
    assert data["health"]["overall"] != "critical"
    assert not any(warning.startswith("governance") for warning in data["health"]["ops_warnings"])
    governance = data["governance"]
    assert governance["status"] == "warming_up" and governance["failing"] == []
    assert isinstance(governance["kpis"]["scheduler_uptime"]["value"], float)  # numbers stay numbers
    assert governance["warming_up_until"].endswith("Z")
    stored = json.loads((log_dir / "observability.json").read_text())
    assert stored["governance"]["kpis"]["scheduler_uptime"]["status"] == "warming_up"


@pytest.mark.django_db
def test_an_unreachable_api_makes_the_snapshot_critical(probe_down):
    data = services.snapshot_take(blocking_cpu=False, now=NOW).data
    assert data["api"]["healthy"] is False and data["api"]["status"] is None
    assert "api probe failed" in data["health"]["ops_warnings"]
    assert data["health"]["overall"] == "critical"


@pytest.mark.django_db
def test_fresh_never_samples_the_cpu_over_an_interval_and_says_when_it_has_no_figure(api, probe_down, no_blocking_cpu):
    body = api.get("/api/observability/snapshot?fresh=1").json()
    assert body["ok"] is True
    assert body["snapshot"]["system"]["cpu_percent"] is None
    assert body["snapshot"]["system"]["cpu_sampled"] is False


@pytest.mark.django_db
def test_the_cpu_figure_comes_from_the_previous_sample_in_the_cache(no_blocking_cpu):
    times = psutil.cpu_times()._asdict()
    earlier = {name: value * 0.9 for name, value in times.items()}
    system.cache.set(system.CPU_SAMPLE_KEY, {"at": NOW.timestamp() - 60, "times": earlier})
    assert isinstance(system.cpu_percent_from_samples(now=NOW), float)
    system.cache.set(system.CPU_SAMPLE_KEY, {"at": NOW.timestamp() - 601, "times": earlier})
    assert system.cpu_percent_from_samples(now=NOW) is None  # too old to mean anything


@pytest.mark.django_db
def test_the_plain_get_reads_the_stored_snapshot(api, monkeypatch):
    stored = make_snapshot(taken_at=timezone.now() - timedelta(minutes=30), data={"ts": 1, "health": {}})

    def refuse(**kwargs):
        raise AssertionError("the plain GET must not measure anything")

    monkeypatch.setattr(services, "snapshot_take", refuse)
    body = api.get("/api/observability/snapshot").json()
    assert body["snapshot"] == stored.data
    assert 1790 <= body["age_sec"] <= 1810 and body["stale"] is False


@pytest.mark.django_db
def test_an_old_snapshot_is_stale_and_a_missing_one_is_taken(api, probe_down):
    make_snapshot(taken_at=timezone.now() - timedelta(hours=3), data={"ts": 1})
    assert api.get("/api/observability/snapshot").json()["stale"] is True
    Snapshot.objects.all().delete()
    body = api.get("/api/observability/snapshot").json()
    assert body["stale"] is False and body["snapshot"]["api"]["healthy"] is False
    assert Snapshot.objects.count() == 1


@pytest.mark.django_db
def test_the_history_filters_by_since_and_limits(api):
    for hours in range(5):
        make_snapshot(taken_at=NOW - timedelta(hours=hours), data={"ts": hours})
    body = api.get("/api/observability/snapshots", {"since": (NOW - timedelta(hours=2, minutes=30)).isoformat()}).json()
    assert [row["ts"] for row in body["results"]] == [0, 1, 2]
    assert api.get("/api/observability/snapshots?limit=1").json()["count"] == 1
    assert api.get("/api/observability/snapshots?limit=0").status_code == 400


@pytest.mark.django_db
def test_the_command_takes_one_and_prints_it(probe_down, monkeypatch):
    monkeypatch.setattr(system, "cpu_percent_blocking", lambda: 12.5)  # the command's real 1-second sample
    out = StringIO()
    call_command("observability_snapshot", stdout=out)
    data = json.loads(out.getvalue())
    assert data["system"]["cpu_percent"] == 12.5 and data["system"]["cpu_sampled"] is True
    assert Snapshot.objects.count() == 1
