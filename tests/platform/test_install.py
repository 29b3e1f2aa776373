"""What `make run` and `make test` install, and that the service runs without the development packages."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
DEV_ONLY = ["pytest", "pytest-django", "pytest-xdist", "ruff", "locust", "schemathesis", "aiosmtpd", "playwright"]
RUNTIME = ["Django", "djangorestframework", "django-q2", "gunicorn", "whitenoise", "psycopg", "redis", "tqdm"]

pytestmark = [pytest.mark.own_services, pytest.mark.skipif(shutil.which("make") is None, reason="needs make")]


def names(path: str) -> list[str]:
    """The distributions a requirements file pins (lines like ``name[extra]>=1,<2``)."""
    found = []
    for line in (BASE_DIR / path).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            found.append(re.match(r"[A-Za-z0-9_.-]+", line)[0].lower())
    return found


@pytest.fixture
def clone(tmp_path):
    """The Makefile and requirement files in a directory of their own, without a .venv yet."""
    for name in ("Makefile", "requirements.txt", "requirements-dev.txt"):
        shutil.copy(BASE_DIR / name, tmp_path / name)
    return tmp_path


def make(directory: Path, *args: str, dry: bool = True) -> str:
    """What make runs (with -n: only prints the commands); -W pretends a file just changed."""
    return subprocess.run(
        ["make", "--no-print-directory", *(["-n"] if dry else []), *args],
        cwd=directory,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def with_stub_python(directory: Path) -> None:
    """A .venv whose python does nothing, so installs 'succeed' and leave their stamps."""
    python = directory / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\nexit 0\n")
    python.chmod(0o755)


def test_runtime_and_development_requirements_are_split():
    runtime, dev = names("requirements.txt"), names("requirements-dev.txt")
    assert {name.lower() for name in RUNTIME} <= set(runtime)
    assert {name.lower() for name in DEV_ONLY} <= set(dev)
    assert not set(runtime) & set(dev), "a package is pinned in both files"
    assert "-r requirements.txt" in (BASE_DIR / "requirements-dev.txt").read_text().splitlines()


def test_make_run_on_a_fresh_clone_installs_only_the_runtime_requirements_and_shows_pips_progress(clone):
    commands = make(clone, "run")
    assert "-m venv .venv" in commands
    installs = [line for line in commands.splitlines() if "pip install" in line]
    assert installs and all(line.endswith("-r requirements.txt") for line in installs)
    assert "requirements-dev.txt" not in commands
    assert not any(re.search(r"\s(--quiet|-q)\b", line) for line in installs)


def test_make_test_installs_both(clone):
    installs = [line for line in make(clone, "test").splitlines() if "pip install" in line]
    assert installs == [".venv/bin/python -m pip install --progress-bar on -r requirements-dev.txt"]


def test_each_stamp_follows_its_own_files(clone):
    with_stub_python(clone)
    make(clone, "install-dev", dry=False)
    assert "pip install" not in make(clone, "run") + make(clone, "test")
    (clone / "requirements-dev.txt").write_text((clone / "requirements-dev.txt").read_text() + "iniconfig>=2\n")
    assert "pip install" not in make(clone, "run")  # the service does not need it
    assert "-r requirements-dev.txt" in make(clone, "test")
    make(clone, "install-dev", dry=False)
    (clone / "requirements.txt").write_text((clone / "requirements.txt").read_text() + "six>=1\n")
    assert "-r requirements.txt" in make(clone, "run")
    assert "-r requirements-dev.txt" in make(clone, "test")


def test_make_run_collects_static_files_only_when_they_changed(clone):
    commands = make(clone, "run")
    assert "manage.py collectstatic_if_changed" in commands
    assert "manage.py collectstatic " not in commands


# Imported by the service: the settings, every URL and view, the WSGI app, every module of the
# project's apps (models, services, tasks, admin, management commands), gunicorn and the task queue.
IMPORT_EVERYTHING = """
import importlib, pkgutil, sys

class NoDevPackages:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"the service imported the development package {name}")
        return None

BLOCKED = set(sys.argv[1].split(","))
sys.meta_path.insert(0, NoDevPackages())

import django
django.setup()
from django.urls import get_resolver
get_resolver().url_patterns
import echopilot.wsgi, gunicorn.app.wsgiapp, django_q.cluster
for app in ("echopilot", "payments", "fraud", "notifications", "portal", "observability"):
    package = importlib.import_module(app)
    for module in pkgutil.walk_packages(package.__path__, app + "."):
        if ".migrations." not in module.name:
            importlib.import_module(module.name)
print("ok")
"""


@pytest.mark.slow
def test_the_service_imports_no_development_package(tmp_path):
    blocked = ["pytest", "_pytest", "pytest_django", "ruff", "locust", "schemathesis", "aiosmtpd", "playwright"]
    blocked += ["hypothesis", "gevent", "flask", "brotli"]  # what the development packages bring along
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "echopilot.settings",
        "ENV_FILE": "",
        "SESSION_SECRET": "x" * 50,
        "LOG_DIR": str(tmp_path / "logs"),
        "CACHE_DIR": str(tmp_path / "cache"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING, ",".join(blocked)],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
