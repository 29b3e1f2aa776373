"""LOG_DIR turned read-only: requests still succeed; health and the weekly audit show the lost lines.

LOG_DIR is bind-mounted read-only onto itself (we run as root, so a chmod would not stop a write).
Where mounting is not permitted, LOG_DIR becomes a path under a regular file instead (NotADirectoryError).
"""

import subprocess
from pathlib import Path

import pytest

from observability.housekeeping import audit_week_run

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def mount_read_only(path) -> bool:
    if subprocess.run(["mount", "--bind", path, path], capture_output=True).returncode != 0:
        return False
    if subprocess.run(["mount", "-o", "remount,ro,bind", path, path], capture_output=True).returncode != 0:
        subprocess.run(["umount", path], check=True)
        return False
    return True


def written_under(log_dir: Path) -> list[Path]:
    """The files the app managed to write in LOG_DIR (none where LOG_DIR could not even be created)."""
    if not log_dir.is_dir():
        return []
    return sorted(log_dir.iterdir())


@pytest.fixture
def unwritable_log_dir(settings, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    mounted = mount_read_only(logs)
    if not mounted:
        (tmp_path / "file").write_text("")
        settings.LOG_DIR = tmp_path / "file" / "logs"
    yield Path(settings.LOG_DIR)  # where the app writes, whichever way it was made unwritable
    if mounted:
        subprocess.run(["umount", logs], check=True)


def test_requests_succeed_and_the_lost_lines_show_in_health_and_the_weekly_audit(api, unwritable_log_dir):
    response = api.post("/api/fraud/check", {"email": "ro@example.com", "amount": "10.00"}, format="json")
    assert response.status_code == 200, response.content
    check_id = response.json()["check_id"]
    assert written_under(unwritable_log_dir) == []

    snapshot = api.post("/api/observability/snapshot")
    assert snapshot.status_code == 201, snapshot.content
    data = snapshot.json()["snapshot"]
    assert data["audit"]["write_failures"] >= 1
    assert any(" audit log write failure" in w for w in data["health"]["ops_warnings"])
    assert data["health"]["overall"] != "healthy"

    audit = audit_week_run()
    assert audit["streams"]["fraud_checks"]["examples_missing_in_log"] == [check_id]
    data = api.post("/api/observability/snapshot").json()["snapshot"]
    noun = "discrepancy" if audit["discrepancies"] == 1 else "discrepancies"
    assert f"Weekly audit: {audit['discrepancies']} {noun}" in data["health"]["ops_warnings"]
