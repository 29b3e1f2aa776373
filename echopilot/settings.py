"""EchoPilot Ops settings.

Everything comes from environment variables (and a ``.env`` file when present,
whose values never override the real environment). Every variable is listed in
``.env.example`` with its default. Bad values stop start-up with
``ImproperlyConfigured`` naming the variable (see ``echopilot/env.py``), which
``manage.py`` and ``wsgi.py`` print as one line instead of a traceback.
"""

import ipaddress
import os
import re
import secrets
import socket
import sys
import warnings
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from echopilot.emails import normalize_email
from echopilot.env import (
    env_bool,
    env_choice,
    env_decimal,
    env_emails,
    env_float,
    env_host,
    env_int,
    env_list,
    env_rule_timing,
    env_str,
    env_timezone,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent

# ENV_FILE names the dotenv file to read (relative to the project); empty disables it.
_env_file = os.environ.get("ENV_FILE", ".env").strip()
if _env_file:
    _env_path = Path(_env_file) if Path(_env_file).is_absolute() else BASE_DIR / _env_file
    if _env_path.is_file():
        environ.Env.read_env(_env_path, overwrite=False)


def _project_path(value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else BASE_DIR / path


# --- Core -------------------------------------------------------------------

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SESSION_SECRET")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SESSION_SECRET is not set. It signs sessions and portal links and must be "
            "a long random value shared by every node, e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`. "
            "`make run` writes one into .env for you."
        )
    # Development only: a per-process secret, so nothing stays valid across restarts.
    SECRET_KEY = secrets.token_urlsafe(50)
if len(SECRET_KEY) < 32 and not DEBUG:
    raise ImproperlyConfigured("SESSION_SECRET must be at least 32 characters long.")
SECRET_KEY_FALLBACKS = env_list("SESSION_SECRET_FALLBACKS")

# Keys accepted in the X-Dash-Key header; several may be listed for rotation.
DASHBOARD_KEYS = env_list("DASHBOARD_KEY")

# Where `make run` binds gunicorn.
HOST = env_host("HOST", "127.0.0.1")
PORT = env_int("PORT", 8000, minimum=1, maximum=65535)


def _url_host(host: str) -> str:
    """How a URL names ``host``: a bind-all address becomes loopback, IPv6 goes in brackets."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    return f"[{address}]" if address.version == 6 else str(address)


# Default: the address `make run` binds, so setting PORT alone keeps links and the self-probe right.
PUBLIC_BASE_URL = env_url("PUBLIC_BASE_URL", f"http://{_url_host(HOST)}:{PORT}", schemes=("http", "https")).rstrip("/")
_public = urlsplit(PUBLIC_BASE_URL)
PUBLIC_BASE_IS_HTTPS = _public.scheme == "https"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
_public_host = _url_host(_public.hostname)  # Django compares IPv6 hosts with their brackets
if _public_host not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(_public_host)
CSRF_TRUSTED_ORIGINS = [f"{_public.scheme}://{_public.netloc}"]
WEB_CONCURRENCY = env_int("WEB_CONCURRENCY", 2, minimum=1)
NODE_NAME = env_str("NODE_NAME", socket.gethostname())

TIME_ZONE = env_timezone("TIME_ZONE", "UTC")
USE_TZ = True
USE_I18N = True
LANGUAGE_CODE = "en-us"
# Django's own date rendering (the admin's lists and read-only fields) in the one date style of
# echopilot.timefmt: "2026-11-29 06:04 UTC". Localized formats win over DATETIME_FORMAT, hence a format module.
FORMAT_MODULE_PATH = ["echopilot.formats"]

LOG_DIR = _project_path(env_str("LOG_DIR", "logs"))
VAR_DIR = BASE_DIR / "var"

# --- Applications -----------------------------------------------------------

INSTALLED_APPS = [
    "observability.sites.OpsAdminConfig",  # django.contrib.admin with our admin site (app order, "View site")
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "axes",
    "echopilot",
    "payments",
    "fraud",
    "notifications",
    "portal",
    "observability",
]

MIDDLEWARE = [
    # Outermost, so request latencies include every other middleware.
    "observability.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "echopilot.middleware.ApiBodyLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # The staff pages' Content-Security-Policy; outside the portal's middleware, which sets its own.
    "echopilot.middleware.StaffContentSecurityPolicyMiddleware",
    # The portal's own session (cookie portal_session, path /portal), never the admin's.
    "portal.middleware.PortalSessionMiddleware",
    # The portal's security headers go on every /portal response, error pages included.
    "portal.middleware.PortalHeadersMiddleware",
    # Innermost: turns a locked-out admin login into the lockout page (django-axes).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "echopilot.urls"
WSGI_APPLICATION = "echopilot.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'echopilot.sqlite3'}")
if urlsplit(DATABASE_URL).scheme not in ("sqlite", "postgres", "postgresql"):
    raise ImproperlyConfigured("DATABASE_URL must start with sqlite:/// or postgres://.")
try:
    with warnings.catch_warnings():  # django-environ warns on stderr besides raising; the error says it all
        warnings.simplefilter("ignore")
        _db = environ.Env.db_url_config(DATABASE_URL)
except Exception as exc:  # django-environ raises several types for bad URLs
    raise ImproperlyConfigured(f"DATABASE_URL could not be parsed: {exc}") from None
if _db["ENGINE"] not in ("django.db.backends.sqlite3", "django.db.backends.postgresql"):
    raise ImproperlyConfigured("DATABASE_URL must start with sqlite:/// or postgres://.")
DB_IS_SQLITE = _db["ENGINE"] == "django.db.backends.sqlite3"

# Seconds a writer waits for another one to finish before SQLite gives up.
SQLITE_BUSY_TIMEOUT = env_int("SQLITE_BUSY_TIMEOUT", 20, minimum=1)

if DB_IS_SQLITE:
    if _db["NAME"] in ("", ":memory:"):  # processes share nothing in memory: the web server and the queue need a file
        raise ImproperlyConfigured("DATABASE_URL names no SQLite file; e.g. sqlite:///var/echopilot.sqlite3.")
    _db["NAME"] = str(_project_path(_db["NAME"]))
    try:
        Path(_db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImproperlyConfigured(
            f"DATABASE_URL: cannot create the directory of {_db['NAME']} ({exc.strerror or exc})."
        ) from None
    _db["OPTIONS"] = {
        # BEGIN IMMEDIATE takes the write lock at the start of every transaction,
        # so two writers queue on the busy timeout instead of failing with
        # "database is locked" when a read lock cannot be upgraded.
        "transaction_mode": "IMMEDIATE",
        "timeout": SQLITE_BUSY_TIMEOUT,
        "init_command": (
            "PRAGMA journal_mode=WAL;"
            "PRAGMA synchronous=NORMAL;"
            f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT * 1000};"
            "PRAGMA foreign_keys=ON;"
        ),
    }
    # The test database is a real file too (in-memory SQLite cannot be shared
    # by the threads and processes the concurrency tests start).
    _db["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    _db["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60, minimum=0)
    _db["CONN_HEALTH_CHECKS"] = True
    _db.setdefault("OPTIONS", {})["connect_timeout"] = env_int("DB_CONNECT_TIMEOUT", 5, minimum=1)

DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (shared by every process: CPU samples, the weekly audit's result, cluster stats) ---
# Nothing in it needs to be atomic: counters and rate limits live in the database (echopilot/counters.py).

REDIS_URL = env_url("REDIS_URL", None, schemes=("redis", "rediss"))
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "echopilot",
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(_project_path(env_str("CACHE_DIR", "var/cache"))),
            "KEY_PREFIX": "echopilot",
            "OPTIONS": {"MAX_ENTRIES": 10_000},
        }
    }

# --- Scheduler and task queue (django-q2) ------------------------------------

Q_CLUSTER = {
    "name": "echopilot",
    "workers": env_int("Q_WORKERS", 2, minimum=1),
    # A task may run for `timeout` seconds; the broker hands it out again after
    # `retry` seconds without an acknowledgement, so retry must exceed timeout.
    "timeout": env_int("Q_TIMEOUT", 120, minimum=5),
    "retry": env_int("Q_RETRY", 180, minimum=10),
    "max_attempts": env_int("Q_MAX_ATTEMPTS", 3, minimum=1),
    "ack_failures": True,
    # After downtime a schedule runs once, not once per missed period.
    "catch_up": False,
    # Successful results are kept per schedule (a schedule's tasks share its name as group).
    "save_limit": env_int("Q_SAVE_LIMIT", 200, minimum=0),
    "save_limit_per": "group",
    "recycle": 500,
    "poll": 1,
    "time_zone": "UTC",
    "label": "Task queue",
}
if Q_CLUSTER["retry"] <= Q_CLUSTER["timeout"]:
    raise ImproperlyConfigured("Q_RETRY must be larger than Q_TIMEOUT, or running tasks get handed out twice.")
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

HEARTBEAT_RETENTION_HOURS = env_int("HEARTBEAT_RETENTION_HOURS", 48, minimum=1)

# Task-queue health, measured outside the queue (readyz, /metrics, dashboard, the watchdog in `serve`).
# Stalled: the heartbeat or a due schedule is overdue by more than TASKS_STALL_SECONDS, or a qcluster holds
# work and finished nothing for that long. It must exceed Q_TIMEOUT, the longest a healthy task may run.
TASKS_STALL_SECONDS = env_int("TASKS_STALL_SECONDS", 180, minimum=2)
if Q_CLUSTER["timeout"] >= TASKS_STALL_SECONDS:
    raise ImproperlyConfigured(
        "TASKS_STALL_SECONDS must be larger than Q_TIMEOUT, or a long healthy task counts as a stall."
    )
# After a web process or a qcluster starts, the heartbeat and schedules are not judged for this long.
TASKS_START_GRACE_SECONDS = env_int("TASKS_START_GRACE_SECONDS", 120, minimum=0)
# `serve`: seconds its children get to stop after SIGTERM before SIGKILL; where it keeps its pid file.
SERVE_STOP_SECONDS = env_int("SERVE_STOP_SECONDS", 30, minimum=1)
SERVE_RUN_DIR = _project_path(env_str("SERVE_RUN_DIR", "var/run"))

# --- API --------------------------------------------------------------------

API_MAX_BODY_BYTES = 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
API_KEY_LAST_USED_RESOLUTION_SECONDS = 60

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["echopilot.auth.DashKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["echopilot.parsers.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "echopilot.schema.AutoSchema",
    "EXCEPTION_HANDLER": "echopilot.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_PAGINATION_CLASS": "echopilot.pagination.Pagination",
    "PAGE_SIZE": 50,
    "COERCE_DECIMAL_TO_STRING": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "EchoPilot Ops API",
    "DESCRIPTION": (
        "Fraud guard, payments ledger, notifications, customer portal links and "
        "observability. Every route needs the `X-Dash-Key` header, except the Stripe webhook, "
        "which is authenticated by its `Stripe-Signature`.\n\n"
        "**Try it out** sends real requests to this server: first press **Authorize** and enter a key "
        "(a value of `DASHBOARD_KEY`, or a key created in the admin under *Platform → API keys*) as `X-Dash-Key`. "
        "Being logged in to the admin opens these docs, not the API. Each operation's example is a request "
        "that works as written; `POST` operations change data (a fraud check is recorded, an email is queued)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No validator badge: it would load an image from validator.swagger.io (refused by the CSP, and nothing
    # leaves this server). The key entered under Authorize is not persisted (no localStorage): it is a secret.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api",
    # Distinct names for enums that share a field name across apps ("status").
    "ENUM_NAME_OVERRIDES": {"DeliveryStatusEnum": "notifications.models.Status"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "echopilot.schema.tighten_decimal_patterns",
    ],
}

# --- Static files -----------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Security ---------------------------------------------------------------
# HTTPS settings follow PUBLIC_BASE_URL: behind https they are all on; on the
# plain-http default (make run on a laptop) secure cookies would make the admin
# login impossible, so they stay off. See README "Deploying behind HTTPS".

SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PUBLIC_BASE_IS_HTTPS)
SECURE_REDIRECT_EXEMPT = [r"^livez$", r"^readyz$"]
SESSION_COOKIE_SECURE = PUBLIC_BASE_IS_HTTPS
CSRF_COOKIE_SECURE = PUBLIC_BASE_IS_HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if PUBLIC_BASE_IS_HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = False
TRUST_X_FORWARDED_PROTO = env_bool("TRUST_X_FORWARDED_PROTO", False)
if TRUST_X_FORWARDED_PROTO:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Reverse proxies in front of the app that append the client's address to X-Forwarded-For
# (default: one behind a TLS proxy, else none). echopilot.auth.client_ip reads it.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1 if TRUST_X_FORWARDED_PROTO else 0, minimum=0, maximum=10)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600, minimum=60)

# --- Admin login throttling (django-axes) ------------------------------------
# After ADMIN_LOGIN_FAILURE_LIMIT failed logins for one user name, or from one address, further
# logins of that user name / from that address are refused (even with the right password) until
# ADMIN_LOGIN_COOLOFF_MINUTES have passed without a failure. Unlock at once with
# `manage.py axes_reset_username NAME` or `manage.py axes_reset_ip ADDRESS` (README "Admin login").

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked-out logins before a password is checked
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("ADMIN_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("ADMIN_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
# By user name, and separately by address: many passwords for one user, or many users from one address.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# A success does not wipe the count: otherwise logging in to one's own account from an address would
# also wipe that address's failures against someone else's.
AXES_RESET_ON_SUCCESS = False
AXES_CLIENT_IP_CALLABLE = "echopilot.auth.client_ip"
AXES_LOCKOUT_CALLABLE = "echopilot.auth.admin_lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
# Masked in django-axes' log lines and in the form data it stores with each failed attempt (the password always is).
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "csrfmiddlewaretoken"]
AXES_VERBOSE = False  # no start-up banner in every manage.py command's output

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Logging ----------------------------------------------------------------

LOG_LEVEL = env_choice("LOG_LEVEL", ("debug", "info", "warning", "error"), "info").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "stream": sys.stderr},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # django-axes logs every admin login and clean-up at INFO; its warnings (failures, lockouts) are enough.
    "loggers": {"axes": {"level": "ERROR" if LOG_LEVEL == "ERROR" else "WARNING"}},
}

# --- Payments ---------------------------------------------------------------

# Signing secret of the Stripe webhook endpoint (whsec_...). Empty: every delivery is refused.
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET", "")

# --- Fraud guard ------------------------------------------------------------

# 1: block prepaid cards.
GUARD_BLOCK_PREPAID = env_bool("GUARD_BLOCK_PREPAID", False)
# Checks allowed per card (fingerprint, else email) per rolling hour.
GUARD_MAX_PER_HOUR = env_int("GUARD_MAX_PER_HOUR", 5, minimum=1)
# Allowed + review amount per email and currency per rolling 24 hours.
GUARD_MAX_AMOUNT_DAY = env_decimal("GUARD_MAX_AMOUNT_DAY", "10000", minimum=Decimal("0"))
# Emails always allowed (comma-separated, case-insensitive).
GUARD_EMAIL_ALLOW = [normalize_email(email) for email in env_emails("GUARD_EMAIL_ALLOW")]
# Amounts above this go to manual review.
GUARD_REVIEW_AMOUNT = env_decimal("GUARD_REVIEW_AMOUNT", "5000", minimum=Decimal("0"))
# Domains whose mailboxes ignore dots in the local part, for counting (googlemail.com counts as gmail.com).
GUARD_CANONICAL_DOT_DOMAINS = [
    domain.strip().lower() for domain in env_list("GUARD_CANONICAL_DOT_DOMAINS", ["gmail.com", "googlemail.com"])
]
# Card-testing signals; 0 turns one off (the default).
# Distinct cards per email (canonical) per rolling 24 hours; one more card is blocked.
GUARD_MAX_CARDS_PER_EMAIL_DAY = env_int("GUARD_MAX_CARDS_PER_EMAIL_DAY", 0, minimum=0)
# Distinct emails (canonical) per card per rolling 24 hours; one more email is blocked.
GUARD_MAX_EMAILS_PER_CARD_DAY = env_int("GUARD_MAX_EMAILS_PER_CARD_DAY", 0, minimum=0)
# Blocked checks plus declined payments per card per rolling hour, after which the card is blocked.
GUARD_MAX_DECLINES_PER_CARD_HOUR = env_int("GUARD_MAX_DECLINES_PER_CARD_HOUR", 0, minimum=0)
# Checks per IP address (the optional ``ip`` field) per rolling hour.
GUARD_MAX_PER_IP_HOUR = env_int("GUARD_MAX_PER_IP_HOUR", 0, minimum=0)
# A succeeded payment not disputed this many days after it counts as legitimate in judged backtests.
GUARD_LABEL_LEGIT_DAYS = env_int("GUARD_LABEL_LEGIT_DAYS", 60, minimum=1)
# 1: activating a stored rule set takes two people, one who asks and another who approves.
GUARD_RULESET_APPROVAL = env_bool("GUARD_RULESET_APPROVAL", False)
# Backtests of at most this many stored checks run at once; larger ones run as a task to poll.
GUARD_BACKTEST_INLINE_CHECKS = env_int("GUARD_BACKTEST_INLINE_CHECKS", 20000, minimum=0)

# --- Notifications ----------------------------------------------------------

# Mail is configured when SMTP_HOST is set; otherwise every email is recorded as a dry run.
SMTP_HOST = env_str("SMTP_HOST", "")
SMTP_PORT = env_int("SMTP_PORT", 465, minimum=1, maximum=65535)
SMTP_USER = env_str("SMTP_USER", "")
SMTP_PASS = env_str("SMTP_PASS", "")
SMTP_FROM = env_str("SMTP_FROM", "ops@echopilot.ai")
SMTP_SECURITY = env_choice(
    "SMTP_SECURITY", ("ssl", "starttls", "none"), {465: "ssl", 587: "starttls"}.get(SMTP_PORT, "none")
)
SMTP_TIMEOUT = env_int("SMTP_TIMEOUT", 15, minimum=1)
# Django's own mail settings, kept consistent; notifications builds its connection from SMTP_*.
EMAIL_HOST = SMTP_HOST
EMAIL_PORT = SMTP_PORT
EMAIL_HOST_USER = SMTP_USER
EMAIL_HOST_PASSWORD = SMTP_PASS
EMAIL_USE_SSL = SMTP_SECURITY == "ssl"
EMAIL_USE_TLS = SMTP_SECURITY == "starttls"
EMAIL_TIMEOUT = SMTP_TIMEOUT
DEFAULT_FROM_EMAIL = SERVER_EMAIL = SMTP_FROM

# Delivery attempts (emails and Telegram messages) and the first retry delay, doubled per attempt (max 1 h).
EMAIL_MAX_ATTEMPTS = env_int("EMAIL_MAX_ATTEMPTS", 5, minimum=1)
EMAIL_RETRY_BASE_SECONDS = env_int("EMAIL_RETRY_BASE_SECONDS", 30, minimum=1)
# A message left in "sending" longer than this (a worker died) goes back to the queue.
EMAIL_SENDING_TIMEOUT = env_int("EMAIL_SENDING_TIMEOUT", 300, minimum=60)
# Comma-separated recipients of alerts and reports sent with notifications.services.notify().
ALERT_EMAIL_TO = env_emails("ALERT_EMAIL_TO")
# Emails handed to SMTP per second and per minute, counted across every worker and node; 0: no limit.
# An email over the limit waits for the next window (not failed, not counted as an attempt).
EMAIL_RATE_PER_SECOND = env_int("EMAIL_RATE_PER_SECOND", 0, minimum=0)
EMAIL_RATE_PER_MINUTE = env_int("EMAIL_RATE_PER_MINUTE", 0, minimum=0)
# The mail provider whose tracking webhook (bounces, complaints) POST /api/webhooks/email receives,
# through django-anymail: postmark (the default) or mailgun.
EMAIL_WEBHOOK_PROVIDER = env_choice("EMAIL_WEBHOOK_PROVIDER", ("postmark", "mailgun"), "postmark")
# "user:password" the provider sends as HTTP basic auth with each webhook call. Empty: every call is refused.
EMAIL_WEBHOOK_SECRET = env_str("EMAIL_WEBHOOK_SECRET", "")
if EMAIL_WEBHOOK_SECRET and ":" not in EMAIL_WEBHOOK_SECRET:
    raise ImproperlyConfigured("EMAIL_WEBHOOK_SECRET must be user:password (HTTP basic auth of the webhook).")
# Mailgun signs its webhooks besides: its webhook signing key (only read with EMAIL_WEBHOOK_PROVIDER=mailgun).
MAILGUN_WEBHOOK_SIGNING_KEY = env_str("MAILGUN_WEBHOOK_SIGNING_KEY", "")
ANYMAIL = {"WEBHOOK_SECRET": EMAIL_WEBHOOK_SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_WEBHOOK_SIGNING_KEY}

# Telegram is configured when both the bot token and the chat id are set; otherwise dry run.
TELEGRAM_BOT_TOKEN = env_str("TELEGRAM_BOT_TOKEN", "")
TELEGRAM_CHAT_ID = env_str("TELEGRAM_CHAT_ID", "")
TELEGRAM_API_URL = env_url("TELEGRAM_API_URL", "https://api.telegram.org", schemes=("http", "https")).rstrip("/")
TELEGRAM_TIMEOUT = env_int("TELEGRAM_TIMEOUT", 10, minimum=1)
# Seconds between two messages to the same chat (Telegram allows about one per second).
TELEGRAM_CHAT_INTERVAL_SECONDS = 1.0
# POST /api/telegram/webhook (presses of the buttons under alerts) is accepted only with this value in
# Telegram's X-Telegram-Bot-Api-Secret-Token header (manage.py telegram_set_webhook registers it). Empty: every
# call is refused. Telegram allows 1 to 256 characters A-Z, a-z, 0-9, _ and -.
TELEGRAM_WEBHOOK_SECRET = env_str("TELEGRAM_WEBHOOK_SECRET", "")
if TELEGRAM_WEBHOOK_SECRET and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", TELEGRAM_WEBHOOK_SECRET):
    raise ImproperlyConfigured("TELEGRAM_WEBHOOK_SECRET must be 1 to 256 characters A-Z, a-z, 0-9, _ and -.")
# Chats whose presses are acted on: TELEGRAM_CHAT_ID and these (comma-separated numeric ids or @channel names).
TELEGRAM_ALLOWED_CHAT_IDS = env_list("TELEGRAM_ALLOWED_CHAT_IDS")
# The Telegram user ids (comma-separated numbers) whose presses are acted on. Empty: nobody's.
TELEGRAM_ALLOWED_USER_IDS = env_list("TELEGRAM_ALLOWED_USER_IDS")
for _name, _values, _pattern in (
    ("TELEGRAM_ALLOWED_CHAT_IDS", TELEGRAM_ALLOWED_CHAT_IDS, r"-?[0-9]{1,20}|@[A-Za-z0-9_]{4,32}"),
    ("TELEGRAM_ALLOWED_USER_IDS", TELEGRAM_ALLOWED_USER_IDS, r"[0-9]{1,20}"),
):
    for _value in _values:
        if not re.fullmatch(_pattern, _value):
            raise ImproperlyConfigured(f"{_name}: {_value[:40]!r} is not a Telegram id.")

# --- Observability ------------------------------------------------------------

# Warnings in a snapshot: CPU, memory and disk percent, heartbeat age (seconds).
OBS_CPU_WARN_PERCENT = env_float("OBS_CPU_WARN_PERCENT", 85.0, minimum=0)
OBS_MEM_WARN_PERCENT = env_float("OBS_MEM_WARN_PERCENT", 90.0, minimum=0)
OBS_DISK_WARN_PERCENT = env_float("OBS_DISK_WARN_PERCENT", 90.0, minimum=0)
OBS_HEARTBEAT_MAX_AGE = env_int("OBS_HEARTBEAT_MAX_AGE", 180, minimum=1)
# Seconds the API probe (PUBLIC_BASE_URL + /readyz) may take.
OBS_PROBE_TIMEOUT = env_float("OBS_PROBE_TIMEOUT", 2.0, minimum=0.1)
# A stored snapshot older than this many seconds is answered with "stale": true.
OBS_SNAPSHOT_STALE_SECONDS = env_int("OBS_SNAPSHOT_STALE_SECONDS", 7200, minimum=60)
# Governance KPI targets over the past 24 hours (percent) and the at-risk margin (percentage points).
KPI_PAYMENT_SUCCESS_TARGET = env_float("KPI_PAYMENT_SUCCESS_TARGET", 90.0, minimum=0)
KPI_FRAUD_BLOCK_MAX = env_float("KPI_FRAUD_BLOCK_MAX", 10.0, minimum=0)
KPI_EMAIL_DELIVERY_TARGET = env_float("KPI_EMAIL_DELIVERY_TARGET", 95.0, minimum=0)
KPI_SCHEDULER_UPTIME_TARGET = env_float("KPI_SCHEDULER_UPTIME_TARGET", 99.0, minimum=0)
KPI_AT_RISK_MARGIN = env_float("KPI_AT_RISK_MARGIN", 2.0, minimum=0)
# Production alert thresholds.
ALERT_WEBHOOK_FAILURES = env_int("ALERT_WEBHOOK_FAILURES", 3, minimum=0)
ALERT_WEBHOOK_SIGNATURE_FAILURES = env_int("ALERT_WEBHOOK_SIGNATURE_FAILURES", 20, minimum=0)
ALERT_PAYMENT_ERROR_RATE = env_float("ALERT_PAYMENT_ERROR_RATE", 5.0, minimum=0)
ALERT_MIN_PAYMENTS = env_int("ALERT_MIN_PAYMENTS", 20, minimum=1)
ALERT_REVENUE_DIP_PERCENT = env_float("ALERT_REVENUE_DIP_PERCENT", 30.0, minimum=0)
# Alert timing, Prometheus/Alertmanager style, for every rule. `for`: minutes a rule's condition must hold before
# its alert fires (pending until then; 0 fires at the first evaluation that sees it; evaluations run every 5 minutes,
# so a smaller value waits for the next one). `keep_firing_for`: minutes a firing alert whose condition cleared
# stays firing (anti-flap; if the condition returns meanwhile it never resolved). Repeat: hours between reminders.
ALERT_FOR_MINUTES = env_int("ALERT_FOR_MINUTES", 0, minimum=0, maximum=7 * 24 * 60)
ALERT_KEEP_FIRING_FOR_MINUTES = env_int("ALERT_KEEP_FIRING_FOR_MINUTES", 0, minimum=0, maximum=7 * 24 * 60)
ALERT_REPEAT_HOURS = env_int("ALERT_REPEAT_HOURS", 4, minimum=1, maximum=24 * 30)
# Per rule, overriding the three above: "rule:for=M,keep=M,repeat=H;rule:..." e.g. "revenue_dip:for=60,repeat=12".
ALERT_RULE_TIMING = env_rule_timing("ALERT_RULE_TIMING")
# Send the resolve of an alert that was announced firing and silenced afterwards (Alertmanager sends none).
ALERT_SEND_RESOLVED_WHEN_SILENCED = env_bool("ALERT_SEND_RESOLVED_WHEN_SILENCED", True)
# Comma-separated recipients of the daily report. Empty: the report is skipped (an audit event says so).
REPORTS_TO = env_emails("REPORTS_TO")
# Days of snapshots, heartbeats, task results, resolved alerts, refused-webhook counts and rotated NDJSON files kept.
RETENTION_DAYS = env_int("RETENTION_DAYS", 90, minimum=1)
# Bearer token for /metrics (besides X-Dash-Key). Empty: only X-Dash-Key.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")

# --- Customer portal ----------------------------------------------------------

# The longest a portal link may work, in hours (links ask for 24 unless told otherwise; receipts get the maximum).
PORTAL_MAX_EXPIRY_HOURS = env_int("PORTAL_MAX_EXPIRY_HOURS", 168, minimum=1, maximum=24 * 366)
# Links POST /api/portal/link may issue per hour: per API key, and per customer email.
PORTAL_RATE_PER_KEY = env_int("PORTAL_RATE_PER_KEY", 600, minimum=1)
PORTAL_RATE_PER_EMAIL = env_int("PORTAL_RATE_PER_EMAIL", 10, minimum=1)
# Receipts a customer may have sent again from the portal per hour.
PORTAL_RESEND_PER_HOUR = env_int("PORTAL_RESEND_PER_HOUR", 3, minimum=1)
