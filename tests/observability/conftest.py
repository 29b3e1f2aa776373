from datetime import UTC, datetime

import pytest

from tests.notifications.conftest import on_commit, smtp_server, telegram_api  # noqa: F401 - shared fixtures

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def probe_down(settings):
    """The API probe targets a closed port (fails at once)."""
    from tests.notifications.conftest import free_port

    settings.PUBLIC_BASE_URL = f"http://127.0.0.1:{free_port()}"
