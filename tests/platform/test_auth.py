"""X-Dash-Key authentication: fail closed, constant-time, never leaking a key."""

import re
import uuid
from datetime import timedelta

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from echopilot.keys import api_key_create, api_key_revoke, hash_key
from echopilot.models import ApiKey

pytestmark = pytest.mark.django_db

# Routes under /api/ that authenticate by other means than X-Dash-Key.
# Webhooks authenticate by their own signature or secret (Stripe-Signature, basic auth, Telegram's header).
EXEMPT = {"api:webhooks-stripe", "api:webhooks-email", "api:telegram-webhook"}
METHODS = ["get", "post", "put", "patch", "delete"]


def _api_routes():
    """Every URL pattern under /api/ as (name, concrete path), found by walking the resolver."""

    def sample(route: str) -> str:
        route = route.lstrip("^").rstrip("$")
        route = re.sub(r"<uuid:[^>]+>", str(uuid.uuid4()), route)
        route = re.sub(r"<int:[^>]+>", "1", route)
        route = re.sub(r"<[^>]+>", "sample1", route)
        route = re.sub(r"\(\?P<[^>]+>[^)]*\)", "sample1", route)
        return route.replace(".*", "anything")

    def walk(patterns, prefix="", namespace=""):
        for pattern in patterns:
            route = prefix + sample(str(pattern.pattern))
            if isinstance(pattern, URLResolver):
                ns = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                yield from walk(pattern.url_patterns, route, ns)
            elif isinstance(pattern, URLPattern) and route.startswith("api/"):
                yield f"{namespace}{pattern.name}", "/" + route

    return sorted(set(walk(get_resolver().url_patterns)))


API_ROUTES = _api_routes()


def test_the_walk_finds_the_api_routes():
    names = {name for name, _ in API_ROUTES}
    assert {"api:whoami", "api:schema", "api:docs", "api-not-found"} <= names


@pytest.mark.parametrize(("name", "path"), API_ROUTES)
def test_every_api_route_refuses_an_anonymous_request(anon, name, path):
    if name in EXEMPT:
        pytest.skip(f"{name} authenticates by its own signature")
    for method in METHODS:
        response = getattr(anon, method)(path)
        assert response.status_code == 401, f"{method.upper()} {path} answered {response.status_code}"
        assert response.json()["ok"] is False
        assert response["WWW-Authenticate"].startswith("DashKey")


def test_a_configured_dashboard_key_is_accepted(api):
    response = api.get("/api/whoami")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "principal": {"kind": "dashboard_key", "name": "1"}}


def test_every_listed_dashboard_key_is_accepted_for_rotation(anon):
    response = anon.get("/api/whoami", HTTP_X_DASH_KEY="test-dash-key-2")
    assert response.json()["principal"] == {"kind": "dashboard_key", "name": "2"}


@pytest.mark.parametrize(
    "key",
    ["wrong", "test-dash-key-1x", "test-dash-key", "", " ", "ключ", "test-dash-key-1\x00", "x" * 5000],
)
def test_it_rejects_wrong_keys_with_401_json(anon, key):
    response = anon.get("/api/whoami", HTTP_X_DASH_KEY=key)
    assert response.status_code == 401
    assert response.json()["error"] in ("authentication_failed", "not_authenticated")
    assert 'realm="api"' in response["WWW-Authenticate"]


def test_it_ignores_a_key_in_the_query_string(anon):
    for param in ("key", "X-Dash-Key", "x_dash_key", "dash_key", "api_key"):
        assert anon.get(f"/api/whoami?{param}=test-dash-key-1").status_code == 401


def test_it_ignores_a_key_in_the_authorization_header(anon):
    assert anon.get("/api/whoami", HTTP_AUTHORIZATION="Bearer test-dash-key-1").status_code == 401


def test_it_fails_closed_when_no_key_is_configured(anon, settings):
    settings.DASHBOARD_KEYS = []
    for key in ("test-dash-key-1", "", "ep_"):
        assert anon.get("/api/whoami", HTTP_X_DASH_KEY=key).status_code == 401
    assert anon.get("/api/whoami").status_code == 401


def test_a_named_key_works_and_records_its_last_use(anon):
    key, raw = api_key_create(name="billing-service")
    response = anon.get("/api/whoami", HTTP_X_DASH_KEY=raw)
    assert response.json()["principal"] == {"kind": "api_key", "name": "billing-service"}
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_a_named_key_is_stored_only_as_a_hash(anon):
    key, raw = api_key_create(name="ops")
    stored = ApiKey.objects.filter(pk=key.pk).values().get()
    assert raw not in {str(value) for value in stored.values()}
    assert stored["key_hash"] == hash_key(raw)
    assert raw.startswith(stored["prefix"])


def test_last_use_is_written_at_most_once_a_minute(anon):
    key, raw = api_key_create(name="ops")
    anon.get("/api/whoami", HTTP_X_DASH_KEY=raw)
    key.refresh_from_db()
    first = key.last_used_at
    anon.get("/api/whoami", HTTP_X_DASH_KEY=raw)
    key.refresh_from_db()
    assert key.last_used_at == first


def test_a_revoked_key_is_refused(anon):
    key, raw = api_key_create(name="old")
    assert api_key_revoke(key=key) is True
    assert api_key_revoke(key=key) is False
    assert anon.get("/api/whoami", HTTP_X_DASH_KEY=raw).status_code == 401


def test_an_expired_key_is_refused_and_an_unexpired_one_works(anon):
    _, expired = api_key_create(name="expired", expires_at=timezone.now() - timedelta(seconds=1))
    _, current = api_key_create(name="current", expires_at=timezone.now() + timedelta(hours=1))
    assert anon.get("/api/whoami", HTTP_X_DASH_KEY=expired).status_code == 401
    assert anon.get("/api/whoami", HTTP_X_DASH_KEY=current).status_code == 200


def test_keys_never_reach_logs_or_responses(anon, caplog):
    caplog.set_level("DEBUG")
    _, raw = api_key_create(name="secretive")
    responses = [
        anon.get("/api/whoami", HTTP_X_DASH_KEY="test-dash-key-1"),
        anon.get("/api/whoami", HTTP_X_DASH_KEY=raw),
        anon.get("/api/whoami", HTTP_X_DASH_KEY="wrong-but-secret-looking"),
        anon.get("/api/nothing-here", HTTP_X_DASH_KEY=raw),
    ]
    for secret in ("test-dash-key-1", raw, "wrong-but-secret-looking"):
        assert secret not in caplog.text
        for response in responses:
            assert secret not in response.content.decode()
