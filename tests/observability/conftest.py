import pytest

from tests.faults.processes import free_port


@pytest.fixture
def probe_down(settings):
    """The API probe targets a closed port (fails at once)."""
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
