"""`manage.py serve` (what `make run` starts): gunicorn and one qcluster, stopped together."""

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.faults.processes import free_port

BASE_DIR = Path(__file__).resolve().parents[2]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.slow
def test_serve_answers_and_stops_cleanly_on_sigterm(tmp_path):
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE")},
        "ENV_FILE": "",
        "DEBUG": "0",
        "SESSION_SECRET": secrets.token_urlsafe(50),
        "DASHBOARD_KEY": "serve-test-key",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}",
        "LOG_DIR": str(tmp_path / "logs"),
        "CACHE_DIR": str(tmp_path / "cache"),
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "Q_WORKERS": "1",
    }
    manage = [sys.executable, "manage.py"]
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        subprocess.run([*manage, *command], cwd=BASE_DIR, env=env, check=True, capture_output=True, timeout=120)
    server = subprocess.Popen(
        [*manage, "serve"], cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if get(f"http://127.0.0.1:{port}/livez")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "server did not come up"
            assert server.poll() is None, server.stdout.read().decode()
            time.sleep(0.3)
        status, html = get(f"http://127.0.0.1:{port}/admin/login/")
        assert status == 200 and "EchoPilot Ops" in html
        assert get(f"http://127.0.0.1:{port}/static/admin/css/base.css")[0] == 200
        assert get(f"http://127.0.0.1:{port}/readyz")[0] == 200
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=45) == 0
    finally:
        if server.poll() is None:
            server.kill()
    output = server.stdout.read().decode()
    assert "started web1" in output and "started q1" in output
    assert output.rstrip().endswith("stopped")
    assert "did not stop in time" not in output


def test_serve_refuses_several_qclusters_on_sqlite(settings):
    settings.DB_IS_SQLITE = True
    with pytest.raises(CommandError, match="need PostgreSQL"):
        call_command("serve", qclusters=2)
