"""/livez and /readyz."""

import pytest
from django.db import connection
from django.test import Client

from echopilot import health


def test_livez_needs_nothing(client):
    response = client.get("/livez")
    assert response.status_code == 200
    assert response.json() == {"ok": True}


@pytest.mark.django_db
def test_readyz_is_ok_when_everything_is_reachable(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_names_an_unreachable_cache(client, cache_down):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert set(response.json()["failed"]) == {"cache"}


@pytest.mark.django_db(transaction=True)
def test_readyz_names_unapplied_migrations(monkeypatch):
    monkeypatch.setattr(health, "_migrations_ok", False)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, app, name, applied FROM django_migrations WHERE app = 'echopilot' ORDER BY id")
        rows = cursor.fetchall()
        cursor.execute("DELETE FROM django_migrations WHERE app = 'echopilot'")
    try:
        response = Client().get("/readyz")
        assert response.status_code == 503
        assert set(response.json()["failed"]) == {"migrations"}
        assert "unapplied" in response.json()["failed"]["migrations"]
    finally:
        with connection.cursor() as cursor:
            for row in rows:
                cursor.execute("INSERT INTO django_migrations (id, app, name, applied) VALUES (%s, %s, %s, %s)", row)


@pytest.mark.django_db
def test_readyz_names_an_unreachable_database(client, monkeypatch):
    def broken_cursor(*args, **kwargs):
        raise connection.Database.OperationalError("server closed the connection")

    monkeypatch.setattr(health, "_migrations_ok", False)
    monkeypatch.setattr(connection, "cursor", broken_cursor)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == {"database": "unreachable (OperationalError)"}


def test_health_endpoints_reveal_no_details(client):
    body = client.get("/livez").content.decode()
    assert "version" not in body and "secret" not in body.lower()
