"""Snapshots and alerts in the admin, and the rule for every machine record: no add, change or delete by hand."""

import html
import re
from datetime import UTC, datetime

import pytest
from django.contrib import admin
from django.test import RequestFactory

from fraud.models import FraudCheck
from notifications.models import Email, TelegramMessage
from observability.models import Alert, Snapshot
from payments.models import Payment, WebhookEvent, WebhookRejection
from tests.factories import make_alert, make_snapshot, make_user

pytestmark = pytest.mark.django_db

RECORDS = [Payment, WebhookEvent, WebhookRejection, FraudCheck, Email, TelegramMessage, Snapshot, Alert]
FORM_FIELDS = re.compile(r'<(?:select|textarea|input(?![^>]*type="hidden"))\b')
WHEN = datetime(2026, 11, 29, 6, 4, tzinfo=UTC)


@pytest.mark.parametrize("model", RECORDS, ids=lambda model: model._meta.label)
def test_no_record_can_be_added_changed_or_deleted_and_every_action_has_its_own_permission(model):
    request = RequestFactory().get("/admin/")
    request.user = make_user("root")
    request.user.is_superuser = True
    model_admin = admin.site._registry[model]
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request) and not model_admin.has_change_permission(request, None)
    assert not model_admin.has_delete_permission(request)
    actions = model_admin.get_actions(request)
    assert "delete_selected" not in actions
    for name in model_admin.actions:
        func = getattr(model_admin, name) if isinstance(name, str) else name
        permissions = getattr(func, "allowed_permissions", ())
        assert permissions, f"{model._meta.label}: the action {name} declares no permission"
        for permission in permissions:
            assert permission not in ("add", "change", "delete"), f"{name} leans on a record permission"
            assert callable(getattr(model_admin, f"has_{permission}_permission", None))
        assert name in actions  # the superuser holds every permission, so is offered every action


def test_a_snapshot_shows_its_data_pretty_printed_and_cannot_be_changed(admin_client):
    data = {"health": {"overall": "degraded", "ops_warnings": ["CPU 98% (threshold 85%)"]}, "api": {"ok": False}}
    snapshot = make_snapshot(taken_at=WHEN, data=data)
    listing = admin_client.get("/admin/observability/snapshot/").text
    assert "2026-11-29 06:04 UTC" in listing and ">degraded</span>" in listing and "CPU 98% (threshold 85%)" in listing
    url = f"/admin/observability/snapshot/{snapshot.pk}/change/"
    detail = html.unescape(admin_client.get(url).text)
    assert '<pre class="record-json">{\n  "api": {\n    "ok": false\n  },' in detail
    assert "{'health'" not in detail and 'name="_save"' not in detail
    assert admin_client.post(url, {"data": "{}"}).status_code == 403
    snapshot.refresh_from_db()
    assert snapshot.data == data


def test_an_alert_reads_as_its_name_state_summary_and_numbers(admin_client):
    alert = make_alert(
        "revenue_dip",
        fingerprint="usd",
        summary="revenue USD 522.17 is 60% below the 7-day average",
        observed=522.17,
        threshold=1000.0,
        started_at=WHEN,
    )
    listing = admin_client.get("/admin/observability/alert/").text
    assert "revenue_dip/usd" in listing and ">Firing</span>" in listing and "2026-11-29 06:04 UTC" in listing
    assert "revenue USD 522.17 is 60% below" in listing
    detail = admin_client.get(f"/admin/observability/alert/{alert.pk}/change/").text
    assert "522.17" in detail and ">1,000<" in detail and "1000.0" not in detail
    assert not FORM_FIELDS.findall(detail.split('id="content-main"', 1)[1])


def test_silences_stay_editable(admin_client):
    assert admin_client.get("/admin/observability/silence/add/").status_code == 200
