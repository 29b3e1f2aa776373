"""Collect static files only when something that shapes them changed (``manage.py collectstatic_if_changed``).

``collectstatic`` with WhiteNoise's compressed manifest storage hashes and compresses every
file each time (the API docs' bundles take most of it, and half a minute with brotli
installed), even when nothing changed. ``make run`` calls this instead: it fingerprints
what the finders would collect (each file's name, place, size and modification time) and
the settings and versions that shape the output, and runs ``collectstatic`` only when the
fingerprint differs from the one written after the last successful collect, or when the
collected manifest is missing. Listing and stat-ing a few hundred files takes milliseconds.
"""

import hashlib
import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import django
from django.apps import apps
from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

FINGERPRINT_FILE = ".sources-fingerprint"  # in STATIC_ROOT, so deleting the collected files forgets it too


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return ""


def static_sources_fingerprint() -> str:
    """A digest of every file collectstatic would copy (name, source path, size, mtime) and what shapes the output."""
    digest = hashlib.sha256()
    shape = [
        settings.STORAGES["staticfiles"],
        settings.STATIC_URL,
        str(settings.STATIC_ROOT),
        django.get_version(),
        _version("whitenoise"),
        _version("brotli"),  # whitenoise writes .br files only when it is installed
    ]
    digest.update(json.dumps(shape, sort_keys=True, default=str).encode())
    ignore_patterns = apps.get_app_config("staticfiles").ignore_patterns
    entries = []
    for finder in finders.get_finders():
        for path, storage in finder.list(ignore_patterns):
            source = storage.path(path)
            stat = os.stat(source)
            prefix = getattr(storage, "prefix", None) or ""
            entries.append(f"{prefix}/{path}\0{source}\0{stat.st_size}\0{stat.st_mtime_ns}\n")
    for entry in sorted(entries):
        digest.update(entry.encode())
    return digest.hexdigest()


def _collected_output_present() -> bool:
    manifest = getattr(staticfiles_storage, "manifest_name", None)
    return staticfiles_storage.exists(manifest) if manifest else Path(settings.STATIC_ROOT).is_dir()


def collectstatic_if_changed(*, verbosity: int = 1) -> bool:
    """Run collectstatic unless the sources are the ones collected last time; True when it ran."""
    if not settings.STATIC_ROOT:
        raise ImproperlyConfigured("collectstatic_if_changed needs STATIC_ROOT, the directory to collect into.")
    stamp = Path(settings.STATIC_ROOT) / FINGERPRINT_FILE
    fingerprint = static_sources_fingerprint()
    if stamp.is_file() and stamp.read_text() == fingerprint and _collected_output_present():
        return False
    call_command("collectstatic", interactive=False, verbosity=verbosity)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint)  # only after a collect that succeeded
    return True
