"""Benchmark: 1,000 queued emails to a local SMTP server, one reused connection vs one connection per email.

Run: .venv/bin/python bench/email_batch.py [--count 1000]

Both paths are the real delivery code (claim, send, record, audit line) on a
throwaway SQLite database: ``email_deliver_due`` sends the batch over one
connection, the per-row task ``email_deliver`` opens one connection per email.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from email.utils import make_msgid
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
WORK_DIR = Path(tempfile.mkdtemp(prefix="echopilot-bench-"))
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"sqlite:///{WORK_DIR / 'bench.sqlite3'}",
        "CACHE_DIR": str(WORK_DIR / "cache"),
        "LOG_DIR": str(WORK_DIR / "logs"),
        "LOG_LEVEL": "warning",
    }
)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from bench.common import OUT_DIR, free_port, machine  # noqa: E402
from notifications.models import Email, Status  # noqa: E402
from notifications.services import email_deliver, email_deliver_due  # noqa: E402

# The SMTP server runs in its own process, as a real relay would: in this one it would compete for the GIL.
SMTP_SERVER = """
import sys
from aiosmtpd.controller import Controller

class Count:
    received = 0

    async def handle_DATA(self, server, session, envelope):
        Count.received += 1
        return "250 OK"

controller = Controller(Count(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
print(Count.received, flush=True)
"""


def queue(count: int, label: str) -> list[int]:
    Email.objects.bulk_create(
        Email(
            to=["customer@example.com"],
            subject=f"{label} {i}",
            body="Thank you for your payment.\n" * 20,
            html="<p>Thank you for your payment.</p>" * 20,
            status=Status.QUEUED,
            message_id=make_msgid(domain="echopilot.ai"),
        )
        for i in range(count)
    )
    return list(Email.objects.filter(status=Status.QUEUED).order_by("id").values_list("id", flat=True))


def timed(run) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    count = parser.parse_args().count

    call_command("migrate", verbosity=0)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SMTP_SERVER, str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdout.readline().strip() == "ready"
    settings.SMTP_HOST, settings.SMTP_PORT, settings.SMTP_SECURITY = "127.0.0.1", port, "none"
    try:
        queue(count, "batch")
        batch = timed(lambda: email_deliver_due(limit=count))
        ids = queue(count, "single")
        single = timed(lambda: [email_deliver(email_id=pk) for pk in ids])
    finally:
        received = int(server.communicate("")[0])
    sent = Email.objects.filter(status=Status.SENT).count()
    assert sent == received == 2 * count, (sent, received)

    result = {
        "machine": {**machine(), "load_1min": round(os.getloadavg()[0], 2)},
        "emails_per_run": count,
        "batch_emails_per_second": round(count / batch, 1),
        "per_email_connection_emails_per_second": round(count / single, 1),
        "ratio": round(single / batch, 2),
    }
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "email_batch.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
