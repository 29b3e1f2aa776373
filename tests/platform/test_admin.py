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


def test_a_view_only_user_cannot_revoke_or_create_keys(staff_login, admin_client):
    admin_client.post("/admin/echopilot/apikey/add/", {"name": "billing"})
    key = ApiKey.objects.get(name="billing")
    client = staff_login("echopilot.view_apikey")
    page = client.get("/admin/echopilot/apikey/").content.decode()
    assert "billing" in page and 'value="revoke"' not in page
    forged = client.post("/admin/echopilot/apikey/", {"action": "revoke", "_selected_action": [key.pk], "index": "0"})
    assert forged.status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None
    assert client.post("/admin/echopilot/apikey/add/", {"name": "mine"}).status_code == 403
    assert not ApiKey.objects.filter(name="mine").exists()


def test_revoking_keys_needs_the_revoke_permission(staff_login, admin_client):
    admin_client.post("/admin/echopilot/apikey/add/", {"name": "billing"})
    key = ApiKey.objects.get(name="billing")
    client = staff_login("echopilot.view_apikey", "echopilot.revoke_apikey")
    assert 'value="revoke"' in client.get("/admin/echopilot/apikey/").content.decode()
    client.post("/admin/echopilot/apikey/", {"action": "revoke", "_selected_action": [key.pk], "index": "0"})
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_machine_records_cannot_be_deleted_by_hand_even_by_a_superuser(admin_client):
    from django.contrib import admin

    from echopilot.admin import ReadOnlyAdmin
    from echopilot.models import Heartbeat

    record = Heartbeat.objects.create(node="n1", pid=1)
    read_only = [model for model, model_admin in admin.site._registry.items() if isinstance(model_admin, ReadOnlyAdmin)]
    assert len(read_only) >= 8  # checks, events, refusals, emails, Telegram, snapshots, alerts, heartbeats, links
    for model in read_only:
        changelist = admin_client.get(f"/admin/{model._meta.app_label}/{model._meta.model_name}/").content.decode()
        assert 'value="delete_selected"' not in changelist, model
    url = f"/admin/echopilot/heartbeat/{record.pk}/delete/"
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert Heartbeat.objects.filter(pk=record.pk).exists()


def test_the_watchdogs_events_are_listed_read_only(admin_client):
    from echopilot.taskqueue import task_queue_event_record

    task_queue_event_record(node="shop-q1", event="stalled", reason="holds tasks and finished none for 200 s")
    page = admin_client.get("/admin/echopilot/taskqueueevent/?event=stalled").content.decode()
    assert "shop-q1" in page and "holds tasks and finished none for 200 s" in page
    assert admin_client.get("/admin/echopilot/taskqueueevent/add/").status_code == 403
