"""Real stand-ins for the outside world: an SMTP server (aiosmtpd) and a Telegram Bot API (http.server)."""

import json
import ssl
import subprocess
import threading
import time
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from tests.faults.processes import free_port

BOT_TOKEN = "123456:SECRET-bot-token"
CHAT_ID = "-100777"


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run on-commit callbacks (audit lines, enqueues) inside a test's transaction."""
    return django_capture_on_commit_callbacks


class Recorder:
    """aiosmtpd handler: records accepted messages and connections.

    ``refused`` maps a recipient to the reply refusing it; ``data_replies`` refuse the next messages, one each.
    """

    def __init__(self):
        self.messages = []
        self.connections = 0
        self.refused = {}
        self.data_replies = []

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused:
            return self.refused[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_replies:
            return self.data_replies.pop(0)
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append({"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos), "message": message})
        return "250 Message accepted for delivery"


class SmtpServer:
    """A local SMTP server that can be stopped and started again on the same port."""

    def __init__(self, hostname: str = "127.0.0.1", **options):
        self.hostname = hostname
        self.port = free_port()
        self.options = options
        self.handler = Recorder()
        self.controller = None

    def start(self):
        self.controller = Controller(self.handler, hostname=self.hostname, port=self.port, **self.options)
        self.controller.start()

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self):
        return self.handler.messages


@pytest.fixture
def smtp_server(settings):
    """A plain SMTP server on loopback, configured as the project's SMTP server."""
    server = SmtpServer()
    server.start()
    settings.SMTP_HOST = "127.0.0.1"
    settings.SMTP_PORT = server.port
    settings.SMTP_SECURITY = "none"
    settings.SMTP_TIMEOUT = 5
    yield server
    server.stop()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    """A self-signed certificate for ``localhost`` (certificate file, key file)."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost", "-days", "1", "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_server(settings, certificate, monkeypatch):
    """Start a TLS-capable SMTP server (``starttls`` or ``ssl``) trusted through SSL_CERT_FILE."""
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    servers = []

    def start(security: str) -> SmtpServer:
        options = {"starttls": {"tls_context": context, "require_starttls": True}, "ssl": {"ssl_context": context}}
        server = SmtpServer(hostname="localhost", **options[security])
        server.start()
        servers.append(server)
        settings.SMTP_HOST = "localhost"
        settings.SMTP_PORT = server.port
        settings.SMTP_SECURITY = security
        settings.SMTP_TIMEOUT = 5
        return server

    yield start
    for server in servers:
        server.stop()


class TelegramApi:
    """Answers scripted per test: ``answers`` is a list of (status, json body); then 200 with a new message id."""

    def __init__(self):
        self.requests = []
        self.answers = []
        self.lock = threading.Lock()

    def answer(self, path: str, body: dict) -> tuple[int, dict]:
        with self.lock:
            self.requests.append({"path": path, "body": body, "at": time.monotonic()})
            if self.answers:
                return self.answers.pop(0)
            return 200, {"ok": True, "result": {"message_id": len(self.requests)}}


@pytest.fixture
def telegram_api(settings):
    api = TelegramApi()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, answer = api.answer(self.path, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    settings.TELEGRAM_API_URL = f"http://127.0.0.1:{server.server_address[1]}"
    settings.TELEGRAM_BOT_TOKEN = BOT_TOKEN
    settings.TELEGRAM_CHAT_ID = CHAT_ID
    settings.TELEGRAM_CHAT_INTERVAL_SECONDS = 0
    yield api
    server.shutdown()
    server.server_close()
