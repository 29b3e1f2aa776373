"""Benchmark: queued emails to a local SMTP server, one reused connection vs one connection per email.

Run: .venv/bin/python bench/email_batch.py [--count 1000] [--latency-count 200] [--latency-ms 2]

Both paths are the real delivery code (claim, send, record, audit line) on a
throwaway SQLite database: ``email_deliver_due`` sends the batch over one
connection, the per-row task ``email_deliver`` opens one connection per email.
Three settings, each path measured against the other in the same run:
plain SMTP on loopback; STARTTLS with a self-signed certificate made at run
time by ``openssl req`` (the client trusts it explicitly through
``SSL_CERT_FILE`` and verifies it, host name included); and STARTTLS through a
proxy that delays every chunk by ``--latency-ms`` each way (``tc netem`` needs
root), a stand-in for a relay across a network.
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

# The SMTP server (and the delaying proxy in front of it) runs in its own process, as a real relay would: in this
# one it would compete for the GIL. argv: port, proxy port (0: none), one-way delay in ms, cert file, key file
# (empty: plain SMTP). The proxy keeps each direction's order: a chunk leaves ``delay`` after it arrived.
SMTP_SERVER = """
import asyncio, ssl, sys, threading, time
from aiosmtpd.controller import Controller

port, proxy_port, delay_ms, cert, key = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), *sys.argv[4:6]

class Count:
    received = 0

    async def handle_DATA(self, server, session, envelope):
        Count.received += 1
        return "250 OK"

options = {}
if cert:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    options = {"tls_context": context, "require_starttls": True}
controller = Controller(Count(), hostname="127.0.0.1", port=port, **options)
controller.start()

async def pipe(reader, writer):
    queue = asyncio.Queue()

    async def send():
        try:
            while (item := await queue.get()) is not None:
                due, chunk = item
                await asyncio.sleep(max(due - time.monotonic(), 0))
                writer.write(chunk)
                await writer.drain()
        except OSError:  # the other side hung up (QUIT): nothing left to deliver
            pass
        writer.close()

    sender = asyncio.create_task(send())
    try:
        while chunk := await reader.read(65536):
            queue.put_nowait((time.monotonic() + delay_ms / 1000, chunk))
    except OSError:
        pass
    queue.put_nowait(None)
    await sender

async def relay(client_reader, client_writer):
    server_reader, server_writer = await asyncio.open_connection("127.0.0.1", port)
    await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer), return_exceptions=True)

async def serve_proxy(started):
    server = await asyncio.start_server(relay, "127.0.0.1", proxy_port)
    started.set()
    async with server:
        await server.serve_forever()

if proxy_port:
    started = threading.Event()
    threading.Thread(target=lambda: asyncio.run(serve_proxy(started)), daemon=True).start()
    started.wait()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
print(Count.received, flush=True)
"""


def certificate() -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (an IP subjectAltName, so the client checks the host name too)."""
    cert, key = WORK_DIR / "cert.pem", WORK_DIR / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1", "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


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


def measure(count: int, *, tls: tuple[Path, Path] | None, delay_ms: float = 0) -> dict:
    """Deliver ``count`` emails over one connection, then ``count`` with one connection each; both timed."""
    Email.objects.all().delete()
    port, proxy_port = free_port(), free_port() if delay_ms else 0
    cert, key = tls or ("", "")
    server = subprocess.Popen(
        [sys.executable, "-c", SMTP_SERVER, str(port), str(proxy_port), str(delay_ms), str(cert), str(key)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout.readline().strip() == "ready"
    settings.SMTP_HOST, settings.SMTP_PORT = "127.0.0.1", proxy_port or port
    settings.SMTP_SECURITY = "starttls" if tls else "none"
    os.environ["SSL_CERT_FILE"] = str(cert)  # the one CA the client trusts; it still verifies the certificate
    try:
        queue(count, "batch")
        batch = timed(lambda: email_deliver_due(limit=count))
        ids = queue(count, "single")
        single = timed(lambda: [email_deliver(email_id=pk) for pk in ids])
    finally:
        received = int(server.communicate("")[0])
    sent = Email.objects.filter(status=Status.SENT).count()
    assert sent == received == 2 * count, (sent, received)
    return {
        "emails_per_run": count,
        "batch_emails_per_second": round(count / batch, 1),
        "per_email_connection_emails_per_second": round(count / single, 1),
        "ratio": round(single / batch, 2),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--latency-count", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=2.0, help="added to each direction (RTT: twice this)")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    tls = certificate()
    plain = measure(args.count, tls=None)
    load_plain = round(os.getloadavg()[0], 2)
    starttls = measure(args.count, tls=tls)
    load_tls = round(os.getloadavg()[0], 2)
    latency = measure(args.latency_count, tls=tls, delay_ms=args.latency_ms)
    result = {
        "machine": {**machine(), "load_1min": round(os.getloadavg()[0], 2)},
        **plain,
        "load_1min": load_plain,
        "starttls": {**starttls, "load_1min": load_tls},
        "starttls_latency": {**latency, "one_way_delay_ms": args.latency_ms, "load_1min": round(os.getloadavg()[0], 2)},
    }
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "email_batch.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
