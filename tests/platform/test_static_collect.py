"""make run collects static files only when their sources changed."""

import os
from io import StringIO

import pytest
from django.core.management import call_command

SOURCE = "app.css"


@pytest.fixture
def static_setup(settings, tmp_path):
    """A manifest storage collecting one source directory into its own STATIC_ROOT."""
    sources = tmp_path / "src"
    sources.mkdir()
    (sources / SOURCE).write_text("body { color: black; }\n")
    settings.STATICFILES_DIRS = [str(sources)]
    settings.STATICFILES_FINDERS = ["django.contrib.staticfiles.finders.FileSystemFinder"]
    settings.STATIC_ROOT = str(tmp_path / "static")
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }
    return sources, tmp_path / "static"


def collect() -> str:
    out = StringIO()
    call_command("collectstatic_if_changed", stdout=out)
    return out.getvalue()


def hashed_copies(root) -> set[str]:
    return {path.name for path in root.iterdir() if path.name.startswith("app.") and path.name != SOURCE}


def test_the_first_run_collects_and_the_second_does_nothing(static_setup):
    _, root = static_setup
    assert "collected" in collect()
    manifest = root / "staticfiles.json"
    first = manifest.stat().st_mtime_ns
    assert len(hashed_copies(root)) == 1
    assert "unchanged since the last collect" in collect()
    assert manifest.stat().st_mtime_ns == first  # collectstatic did not run: it rewrites the manifest


def test_a_changed_source_is_collected_again(static_setup):
    sources, root = static_setup
    collect()
    (sources / SOURCE).write_text("body { color: red; }\n")
    assert "collected" in collect()
    assert len(hashed_copies(root)) == 2  # the new content got its own hashed name


def test_a_touched_or_added_source_is_collected_again(static_setup):
    sources, root = static_setup
    collect()
    stat = (sources / SOURCE).stat()
    os.utime(sources / SOURCE, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert "collected" in collect()
    (sources / "more.js").write_text("console.log(1);\n")
    assert "collected" in collect()
    assert any(path.name.startswith("more.") for path in root.iterdir())
    assert "unchanged" in collect()


def test_a_removed_output_or_other_storage_is_collected_again(static_setup, settings):
    _, root = static_setup
    collect()
    (root / "staticfiles.json").unlink()
    assert "collected" in collect()
    assert (root / "staticfiles.json").exists()
    settings.STATIC_URL = "/assets/"
    assert "collected" in collect()


def test_without_static_root_it_says_so(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.STATIC_ROOT = None
    with pytest.raises(ImproperlyConfigured, match="STATIC_ROOT"):
        collect()
