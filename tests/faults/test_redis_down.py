"""Redis (the shared cache) stopped under a running app: the API keeps answering and health names the cache."""

import shutil
import urllib.request

import pytest

from tests.faults.processes import DASH_KEY, Gunicorn, Redis, app_env, free_port, manage, request

pytestmark = [
    pytest.mark.slow,
    pytest.mark.own_services,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


@pytest.fixture
def redis():
    instance = Redis()
    yield instance
    instance.stop()


def readyz(port: int) -> tuple[int, dict]:
    status, body, _ = request(port, "GET", "/readyz")
    return status, body


def test_with_redis_down_the_api_answers_and_health_warns(redis, tmp_path):
    # SMTP is configured (nothing listens there), so an email is queued and its delivery enqueued on Redis.
    env = app_env(
        tmp_path, REDIS_URL=redis.url, SMTP_HOST="127.0.0.1", SMTP_PORT=str(free_port()), SMTP_SECURITY="none"
    )
    manage(env, "migrate", "--noinput")
    server = Gunicorn(env, workers=1)
    check = {"email": "cache@example.com", "amount": "10.00"}
    try:
        assert readyz(server.port) == (200, {"ok": True})
        assert request(server.port, "POST", "/api/fraud/check", check)[0] == 200

        redis.stop()
        status, body = readyz(server.port)
        assert status == 503 and set(body["failed"]) == {"cache"}, body

        status, body, _ = request(server.port, "POST", "/api/fraud/check", check)
        assert (status, body["decision"]) == (200, "allow")
        status, body, _ = request(server.port, "POST", "/api/observability/snapshot")
        assert status == 201, body
        warnings = body["snapshot"]["health"]["ops_warnings"]
        assert any(warning.startswith("Cache unreachable") for warning in warnings), warnings
        assert body["snapshot"]["health"]["overall"] != "healthy"
        status, body, _ = request(server.port, "GET", "/api/observability/snapshot")
        assert status == 200, body
        status, body, _ = request(
            server.port, "POST", "/api/email/send", {"to": "ann@example.com", "subject": "s", "body": "b"}
        )
        assert status in (200, 202), body  # stored; the sweep delivers it even though its enqueue failed
        assert request(server.port, "GET", f"/api/email/{body['id']}")[1]["email"]["status"] == "queued"
        metrics = urllib.request.Request(f"http://127.0.0.1:{server.port}/metrics", headers={"X-Dash-Key": DASH_KEY})
        with urllib.request.urlopen(metrics, timeout=10) as response:
            assert b"echopilot_fraud_decisions_24h" in response.read()
        # Portal links are still issued: their rate limits count in the database, not in Redis.
        status, body, _ = request(server.port, "POST", "/api/portal/link", {"email": "ann@example.com"})
        assert status == 200, body

        redis.start()
        assert readyz(server.port) == (200, {"ok": True})
        status, body, _ = request(server.port, "POST", "/api/portal/link", {"email": "ann@example.com"})
        assert status == 200, body
    finally:
        server.stop()
