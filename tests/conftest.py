import json
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from rest_framework.test import APIClient

DASH_KEY = "test-dash-key-1"


@pytest.fixture(autouse=True)
def log_dir(settings, tmp_path):
    """Every test writes its audit log into its own empty directory."""
    settings.LOG_DIR = tmp_path / "logs"
    return settings.LOG_DIR


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield


@pytest.fixture
def api():
    """An API client authenticated with a configured DASHBOARD_KEY."""
    client = APIClient()
    client.credentials(HTTP_X_DASH_KEY=DASH_KEY)
    return client


@pytest.fixture
def cache_down(settings):
    """The cache is a Redis that nothing answers on."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.5},
        }
    }


@pytest.fixture
def staff_login(client):
    """Log the test client in as a new staff user holding exactly the given permissions ("app.codename")."""

    def login(*permissions: str, username: str = "staff"):
        user = User.objects.create_user(username, is_staff=True)
        for name in permissions:
            app_label, codename = name.split(".", 1)
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        client.force_login(user)
        return client

    return login


@pytest.fixture
def anon():
    return APIClient()


@pytest.fixture
def read_audit(log_dir):
    """The parsed lines of one NDJSON stream under LOG_DIR."""

    def read(stream: str) -> list[dict]:
        path = Path(log_dir) / f"{stream}.ndjson"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    return read
