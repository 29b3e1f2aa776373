"""Settings for the test suite: the real settings, with test defaults for what must be set.

DATABASE_URL and REDIS_URL from the environment are honoured, so the same suite
runs on SQLite (default) and on PostgreSQL + Redis (.ci/run).
"""

import os

os.environ["ENV_FILE"] = ""  # a developer's .env must not leak into the tests
os.environ.setdefault("SESSION_SECRET", "test-session-secret-" + "x" * 40)
os.environ.setdefault("DASHBOARD_KEY", "test-dash-key-1,test-dash-key-2")
# TEST_DB_SUFFIX lets two test runs share a checkout without sharing a database or cache.
_suffix = os.environ.get("TEST_DB_SUFFIX", "")
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
