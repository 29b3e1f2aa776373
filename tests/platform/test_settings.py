"""Configuration from the environment: strict parsing, fail-fast start-up, deploy checks."""

import os
import re
import secrets
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from echopilot import env

BASE_DIR = Path(__file__).resolve().parents[2]
SECRET = secrets.token_urlsafe(50)


def run_django(args: list[str], **variables) -> subprocess.CompletedProcess:
    """Start a fresh interpreter with exactly these settings variables (no .env)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DEBUG", "SESSION_", "DASHBOARD"))}
    clean.update(
        {
            "ENV_FILE": "",
            "DJANGO_SETTINGS_MODULE": "echopilot.settings",
            "DATABASE_URL": "sqlite:///var/settings-test.sqlite3",
        }
    )
    clean.update(variables)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=clean, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("reader", "value", "expected"),
    [
        (lambda: env.env_bool("X_FLAG", False), "yes", True),
        (lambda: env.env_bool("X_FLAG", True), "0", False),
        (lambda: env.env_int("X_FLAG", 1), " 42 ", 42),
        (lambda: env.env_list("X_FLAG"), "a, b,,c ", ["a", "b", "c"]),
        (
            lambda: env.env_emails("X_FLAG"),
            "ops@example.com, Lead@Example.com",
            ["ops@example.com", "Lead@Example.com"],
        ),
        (lambda: env.env_decimal("X_FLAG", "1"), "10.50", Decimal("10.50")),
        (lambda: env.env_choice("X_FLAG", ("ssl", "none"), "none"), "SSL", "ssl"),
    ],
)
def test_readers_parse_good_values(monkeypatch, reader, value, expected):
    monkeypatch.setenv("X_FLAG", value)
    assert reader() == expected


def test_readers_use_the_default_for_unset_or_blank(monkeypatch):
    monkeypatch.setenv("X_FLAG", "  ")
    assert env.env_int("X_FLAG", 7) == 7
    monkeypatch.delenv("X_FLAG")
    assert env.env_bool("X_FLAG", True) is True


@pytest.mark.parametrize(
    ("reader", "value"),
    [
        (lambda: env.env_bool("X_FLAG", False), "maybe"),
        (lambda: env.env_int("X_FLAG", 1), "12abc"),
        (lambda: env.env_int("X_FLAG", 1, minimum=1), "0"),
        (lambda: env.env_decimal("X_FLAG", "1"), "NaN"),
        (lambda: env.env_decimal("X_FLAG", "1"), "ten"),
        (lambda: env.env_choice("X_FLAG", ("ssl", "none"), "none"), "tls"),
        (lambda: env.env_url("X_FLAG", None, schemes=("redis",)), "localhost:6379"),
        (lambda: env.env_emails("X_FLAG"), "ops@example.com, ops-at-example.com"),
    ],
)
def test_readers_reject_bad_values_naming_the_variable(monkeypatch, reader, value):
    monkeypatch.setenv("X_FLAG", value)
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        reader()


@pytest.mark.slow
def test_start_up_stops_without_a_session_secret_when_debug_is_off():
    result = run_django(["check"], DEBUG="0", SESSION_SECRET="")
    assert result.returncode != 0
    assert "SESSION_SECRET is not set" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "eighty"),
        ("DEBUG", "perhaps"),
        ("DATABASE_URL", "mysql://x/y"),
        ("REDIS_URL", "127.0.0.1"),
        ("Q_RETRY", "60"),
        ("TASKS_STALL_SECONDS", "120"),  # not above Q_TIMEOUT (120): a long healthy task would count as a stall
        ("ALERT_EMAIL_TO", "ops@example.com,not-an-address"),
    ],
)
def test_start_up_stops_on_a_bad_value_naming_it(name, value):
    result = run_django(["check"], **{"DEBUG": "0", "SESSION_SECRET": SECRET, name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr


@pytest.mark.slow
def test_deploy_check_behind_https_reports_only_the_documented_hsts_choices():
    result = run_django(
        ["check", "--deploy"],
        DEBUG="0",
        SESSION_SECRET=SECRET,
        DASHBOARD_KEY="k",
        ALLOWED_HOSTS="ops.example.com",
        PUBLIC_BASE_URL="https://ops.example.com",
    )
    assert result.returncode == 0, result.stderr
    # Subdomains and preload are decisions about the whole domain, off unless the operator opts in (README).
    assert set(re.findall(r"security\.W\d+", result.stdout + result.stderr)) == {"security.W005", "security.W021"}


@pytest.mark.slow
def test_deploy_check_on_plain_http_reports_only_the_https_settings():
    result = run_django(["check", "--deploy"], DEBUG="0", SESSION_SECRET=SECRET, DASHBOARD_KEY="k")
    assert result.returncode == 0, result.stderr
    # make run on a laptop serves plain http: secure cookies would lock operators out of the admin.
    found = set(re.findall(r"security\.W\d+", result.stdout + result.stderr))
    assert found == {"security.W004", "security.W008", "security.W012", "security.W016"}


def test_the_env_example_lists_every_variable_the_settings_read():
    source = (BASE_DIR / "echopilot" / "settings.py").read_text()
    read = set(re.findall(r'env_\w+\(\s*"([A-Z0-9_]+)"', source))
    read |= set(re.findall(r'environ\.get\(\s*"([A-Z0-9_]+)"', source))
    listed = set(re.findall(r"^([A-Z0-9_]+)=", (BASE_DIR / ".env.example").read_text(), re.M))
    assert read - listed == set(), "missing from .env.example"
    assert listed - read == set(), "listed in .env.example but never read"
