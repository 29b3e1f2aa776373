"""The load mix for bench/load.py (locust, headless): what a day of traffic looks like.

Weights: fraud checks 4, snapshot reads 2, portal visits 2 (create a link, open it,
see the payments, open a receipt), email sends 1. Hosts come from LOAD_HOSTS
(comma-separated; several for cluster mode, picked at random per request),
customers from LOAD_EMAILS_FILE, the key from LOAD_KEY.
"""

import os
import random
import uuid
from pathlib import Path

from locust import HttpUser, between, task

HOSTS = os.environ.get("LOAD_HOSTS", "http://127.0.0.1:8000").split(",")
KEY = os.environ.get("LOAD_KEY", "bench-key")
EMAILS = (
    Path(os.environ["LOAD_EMAILS_FILE"]).read_text().split() if "LOAD_EMAILS_FILE" in os.environ else ["a@example.com"]
)
API = {"X-Dash-Key": KEY, "Content-Type": "application/json"}


class Operator(HttpUser):
    host = HOSTS[0]
    wait_time = between(0.05, 0.2)

    def url(self, path: str) -> str:
        return random.choice(HOSTS) + path

    @task(4)
    def fraud_check(self):
        self.client.post(
            self.url("/api/fraud/check"),
            json={
                "email": random.choice(EMAILS),
                "amount": f"{random.randrange(500, 20000) / 100:.2f}",
                "card_type": random.choice(["credit", "debit", "prepaid"]),
                "card_fingerprint": f"fp{random.randrange(50_000)}",
            },
            headers=API,
            name="POST /api/fraud/check",
        )

    @task(2)
    def snapshot(self):
        self.client.get(self.url("/api/observability/snapshot"), headers=API, name="GET /api/observability/snapshot")

    @task(2)
    def portal_visit(self):
        answer = self.client.post(
            self.url("/api/portal/link"),
            json={"email": random.choice(EMAILS)},
            headers=API,
            name="POST /api/portal/link",
        )
        if answer.status_code != 200:
            return
        host = random.choice(HOSTS)  # one customer stays on one node, as a browser would
        self.client.cookies.clear()
        self.client.get(host + answer.json()["url"], name="GET /portal?e&exp&sig", allow_redirects=False)
        page = self.client.get(host + "/portal/", name="GET /portal/")
        if "/portal/receipts/" in page.text:
            receipt = page.text.split('href="/portal/receipts/', 1)[1].split('"', 1)[0]
            self.client.get(f"{host}/portal/receipts/{receipt}", name="GET /portal/receipts/<id>/")

    @task(1)
    def email_send(self):
        self.client.post(
            self.url("/api/email/send"),
            json={"to": random.choice(EMAILS), "subject": f"Load {uuid.uuid4().hex[:8]}", "body": "Load test."},
            headers=API,
            name="POST /api/email/send",
        )
