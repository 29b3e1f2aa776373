"""The README's screenshots of the operator console: `.venv/bin/python docs/screenshots.py`.

Seeds a throw-away SQLite database with demo traffic (seed_demo), opens the admin home, the review queue, a
review and the dashboard as a superuser in Debian's Chromium at 1366×900 and at 390×844 (light, and the
dashboard also dark), and writes small JPEGs to docs/screens/. Nothing outside a temporary directory is touched.
"""

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screens"
CHROMIUM = "/usr/bin/chromium"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}

SESSION = """
import json
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from fraud.models import FraudReview
user = get_user_model().objects.create_superuser("ops", "ops@example.com", None)
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
oldest = FraudReview.objects.filter(state="open").order_by("opened_at").first()
print(json.dumps({"session": session.session_key, "review": oldest.pk}))
"""


HEARTBEAT = "from echopilot.models import Heartbeat; Heartbeat.objects.create(node='demo', pid=1)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="echopilot-screens-"))
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")},
        "ENV_FILE": "",
        "DEBUG": "1",  # runserver serves the static files from the apps
        "SESSION_SECRET": secrets.token_urlsafe(50),
        "DATABASE_URL": f"sqlite:///{scratch / 'db.sqlite3'}",
        "LOG_DIR": str(scratch / "logs"),
        "CACHE_DIR": str(scratch / "cache"),
        "REPORTS_TO": "",
        "PORT": str(port),  # the snapshot's API probe checks this server
    }
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo", "--payments", "3000", "--days", "14", "--seed", "1")
    ids = json.loads(manage(env, "shell", "-c", SESSION).strip().splitlines()[-1])
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/livez", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        manage(env, "shell", "-c", HEARTBEAT)  # as a running qcluster would have written it
        manage(env, "observability_snapshot")
        OUT.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
            shots = [
                ("home", "/admin/", DESKTOP, "light", False),
                ("desk-queue", "/admin/fraud/fraudreview/", DESKTOP, "light", False),
                ("desk-review", f"/admin/fraud/fraudreview/{ids['review']}/change/", DESKTOP, "light", True),
                ("desk-review-phone", f"/admin/fraud/fraudreview/{ids['review']}/change/", PHONE, "light", False),
                ("dashboard", "/dashboard/", DESKTOP, "light", True),
                ("dashboard-dark", "/dashboard/", DESKTOP, "dark", False),
                ("dashboard-phone", "/dashboard/", PHONE, "dark", False),
            ]
            for name, path, viewport, scheme, full_page in shots:
                context = browser.new_context(viewport=viewport, color_scheme=scheme, device_scale_factor=1)
                context.add_cookies([{"name": "sessionid", "value": ids["session"], "url": base}])
                page = context.new_page()
                page.goto(base + path)
                page.screenshot(path=OUT / f"{name}.jpg", type="jpeg", quality=70, full_page=full_page)
                context.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    for path in sorted(OUT.glob("*.jpg")):
        print(f"{path.relative_to(ROOT)}  {path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
