"""The admin: its title and API keys shown once."""

import pytest

from echopilot.keys import hash_key
from echopilot.models import ApiKey

pytestmark = pytest.mark.django_db


def test_the_admin_is_titled_echopilot_ops(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert "EchoPilot Ops" in response.content.decode()


def test_creating_a_key_shows_it_once_and_stores_only_its_hash(admin_client, anon):
    response = admin_client.post("/admin/echopilot/apikey/add/", {"name": "billing"})
    assert response.status_code == 200
    raw = response.context["raw_key"]
    assert raw.startswith("ep_") and raw in response.content.decode()
    key = ApiKey.objects.get(name="billing")
    assert key.key_hash == hash_key(raw)
    assert key.created_by.username == "admin"
    assert raw not in admin_client.get(f"/admin/echopilot/apikey/{key.pk}/change/").content.decode()
    assert anon.get("/api/whoami", HTTP_X_DASH_KEY=raw).status_code == 200


def test_the_revoke_action_stops_a_key(admin_client, anon):
    admin_client.post("/admin/echopilot/apikey/add/", {"name": "old"})
    key = ApiKey.objects.get(name="old")
    admin_client.post("/admin/echopilot/apikey/", {"action": "revoke", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_the_watchdogs_events_are_listed_read_only(admin_client):
    from echopilot.taskqueue import task_queue_event_record

    task_queue_event_record(node="shop-q1", event="stalled", reason="holds tasks and finished none for 200 s")
    page = admin_client.get("/admin/echopilot/taskqueueevent/?event=stalled").content.decode()
    assert "shop-q1" in page and "holds tasks and finished none for 200 s" in page
    assert admin_client.get("/admin/echopilot/taskqueueevent/add/").status_code == 403
