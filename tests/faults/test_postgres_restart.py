"""PostgreSQL restarted under a burst of fraud checks: 503s while it is down, then service resumes, no app restart.

Runs on every database setting: it starts its own PostgreSQL cluster (initdb on a free port) and never
touches the machine's. Skipped only where the PostgreSQL 15 binaries are missing.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from tests.faults.processes import PG_BIN, Gunicorn, Postgres, app_env, manage, request, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.own_services,
    pytest.mark.skipif(not (PG_BIN / "initdb").exists(), reason="needs the PostgreSQL 15 server binaries"),
]

MAX_PER_HOUR = 5
CHECK = {"email": "burst@example.com", "amount": "10.00", "card_fingerprint": "fp_restart"}


@pytest.fixture
def postgres():
    instance = Postgres()
    yield instance
    instance.remove()


def test_a_restart_answers_503_while_down_and_resumes_without_restarting_the_app(postgres, tmp_path):
    env = app_env(tmp_path, DATABASE_URL=postgres.url, GUARD_MAX_PER_HOUR=str(MAX_PER_HOUR), DB_CONNECT_TIMEOUT="2")
    manage(env, "migrate", "--noinput")
    server = Gunicorn(env, workers=2)
    answers = []  # (phase, status, body, headers)
    phase = "up"
    stop = threading.Event()

    def client():
        while not stop.is_set():
            status, body, headers = request(server.port, "POST", "/api/fraud/check", CHECK)
            answers.append((phase, status, body, headers))
            time.sleep(0.05)

    try:
        with ThreadPoolExecutor(4) as pool:
            clients = [pool.submit(client) for _ in range(4)]
            wait_until(lambda: len(answers) >= 8, timeout=30, message="no answers before the restart")
            postgres.stop()
            phase = "down"
            mark = len(answers)
            wait_until(lambda: len(answers) >= mark + 12, timeout=60, message="no answers while down")
            postgres.start()
            phase = "back"
            mark = len(answers)
            wait_until(lambda: len(answers) >= mark + 12, timeout=60, message="no answers after the restart")
            stop.set()
            for done in clients:
                done.result()
        # A restart between requests: the workers' persistent connections are dead, yet the next requests succeed.
        postgres.stop()
        postgres.start()
        first_after = [request(server.port, "POST", "/api/fraud/check", CHECK)[0] for _ in range(4)]
    finally:
        stop.set()
        server.stop()

    statuses = [status for _, status, _, _ in answers]
    assert set(statuses) <= {200, 503}, statuses
    down = [(body, headers) for phase, status, body, headers in answers if phase == "down" and status == 503]
    assert len(down) >= 8, statuses  # a few requests in flight at the stop may still have finished
    for body, headers in down:
        assert body == {"ok": False, "error": "service_unavailable", "message": body["message"]}
        assert headers["Retry-After"] == "5"
    assert all(status == 200 for phase, status, _, _ in answers[-8:]), statuses  # resumed
    assert first_after == [200] * 4

    allowed = [body for _, status, body, _ in answers if status == 200 and body["decision"] == "allow"]
    assert len(allowed) == MAX_PER_HOUR  # never more; and the limit was reached, so none was lost either
    with psycopg.connect(postgres.url.replace("postgres://", "postgresql://")) as conn:
        stored = conn.execute("SELECT check_id FROM fraud_fraudcheck WHERE decision = 'allow'").fetchall()
    assert sorted(row[0] for row in stored) == sorted(body["check_id"] for body in allowed)
