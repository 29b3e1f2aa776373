from datetime import UTC, datetime

import pytest

from tests.notifications.conftest import on_commit, smtp_server, telegram_api  # noqa: F401 - shared fixtures

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def probe_down(settings):
    """The API probe targets a closed port (fails at once)."""
    from tests.notifications.conftest import free_port

    settings.PUBLIC_BASE_URL = f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def installed(django_db_blocker):
    """``installed(moment)`` makes this database's installation time (its first applied migration) ``moment``.

    django_migrations is not emptied between transactional tests, so the real times are put back afterwards.
    """
    from django.db.migrations.recorder import MigrationRecorder

    rows = MigrationRecorder.Migration.objects
    with django_db_blocker.unblock():
        original = dict(rows.values_list("id", "applied"))

    def install(moment):
        rows.update(applied=moment)

    yield install
    with django_db_blocker.unblock():
        for pk, applied in original.items():
            rows.filter(pk=pk).update(applied=applied)
