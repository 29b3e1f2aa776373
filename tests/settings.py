"""Settings for the test suite: the real settings, with test defaults for what must be set.

DATABASE_URL and REDIS_URL from the environment are honoured, so the same suite
runs on SQLite (default) and on PostgreSQL + Redis (.ci/run).
"""

import os

os.environ["ENV_FILE"] = ""  # a developer's .env must not leak into the tests
os.environ.setdefault("SESSION_SECRET", "test-session-secret-" + "x" * 40)
os.environ.setdefault("DASHBOARD_KEY", "test-dash-key-1,test-dash-key-2")
# TEST_DB_SUFFIX lets two test runs share a checkout without sharing a database or cache; each pytest-xdist
# worker (make test runs two) adds its own name, and its own Redis database (the cache is emptied before every test).
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
_suffix = os.environ.get("TEST_DB_SUFFIX", "") + (f"-{_worker}" if _worker else "")
if _worker and os.environ.get("REDIS_URL"):
    from urllib.parse import urlsplit, urlunsplit

    _redis = urlsplit(os.environ["REDIS_URL"])
    _db = int(_redis.path.strip("/") or 0) + int(_worker.removeprefix("gw") or 0)
    os.environ["REDIS_URL"] = urlunsplit(_redis._replace(path=f"/{_db % 16}"))
os.environ.setdefault("CACHE_DIR", f"var/test-cache{_suffix}")
os.environ.setdefault("SERVE_RUN_DIR", f"var/test-run{_suffix}")

from echopilot.settings import *  # noqa: E402,F403
from echopilot.settings import DATABASES, DB_IS_SQLITE, Q_CLUSTER, STORAGES, VAR_DIR  # noqa: E402

if DB_IS_SQLITE:
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test{_suffix}.sqlite3")}

# Tasks run in the calling process, so tests see their effects at once.
Q_CLUSTER = {**Q_CLUSTER, "sync": True}

# No collectstatic before tests: static files come from the apps (finders), not from STATIC_ROOT.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
