"""API keys in the admin: a form of name and expiry, the key shown once with a copy button, a status filter."""

import logging
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from echopilot.exceptions import Invalid
from echopilot.keys import api_key_check_name, api_key_create
from echopilot.models import ApiKey
from tests.factories import make_api_key

pytestmark = pytest.mark.django_db

ADD = "/admin/echopilot/apikey/add/"
LIST = "/admin/echopilot/apikey/"


def expiry_fields(moment) -> dict:
    """The admin's split date/time inputs for ``moment`` (in the display time zone)."""
    local = timezone.localtime(moment)
    return {"expires_at_0": f"{local:%Y-%m-%d}", "expires_at_1": f"{local:%H:%M:%S}"}


def test_the_form_asks_only_for_name_and_expiry_with_the_time_zone_and_says_the_key_is_shown_once(admin_client):
    response = admin_client.get(ADD)
    assert list(response.context["adminform"].form.fields) == ["name", "expires_at"]
    html = response.content.decode()
    assert "Time zone: UTC" in html
    assert "The key is shown once" in html
    assert 'name="_save"' in html and 'name="_addanother"' not in html and 'name="_continue"' not in html
    for absent in ("prefix", "created_by", "revoked_at", "last_used_at", "key_hash"):
        assert f'name="{absent}"' not in html and f"field-{absent}" not in html


@pytest.mark.parametrize(
    "name, error",
    [
        ("DASHBOARD_KEY#1", "labels of the DASHBOARD_KEY values"),
        ("dashboard_key#2", "labels of the DASHBOARD_KEY values"),
        ("  DASHBOARD_KEY  ", "labels of the DASHBOARD_KEY values"),
        ("   ", "This field is required."),
        ("", "This field is required."),
        ("billing\nservice", "control or invisible characters"),
        ("billing\x00", "Null characters are not allowed."),
        ("bill\u200bing", "control or invisible characters"),
        ("bill\u2028ing", "control or invisible characters"),
        ("bill\u202eing", "control or invisible characters"),
        ("x" * 101, "at most 100 characters"),
    ],
)
def test_names_that_could_not_name_a_caller_are_refused(admin_client, name, error):
    response = admin_client.post(ADD, {"name": name})
    assert response.status_code == 200  # the form again, with the error
    assert error in str(response.context["adminform"].form.errors["name"])
    assert "raw_key" not in response.context
    assert not ApiKey.objects.exists()


def test_a_name_in_use_is_refused(admin_client):
    make_api_key(name="billing")
    response = admin_client.post(ADD, {"name": "billing"})
    assert "already exists" in str(response.context["adminform"].form.errors["name"])
    assert ApiKey.objects.count() == 1


def test_the_service_refuses_a_dashboard_label_whoever_calls():
    with pytest.raises(Invalid) as refused:
        api_key_create(name="DASHBOARD_KEY#1")
    assert refused.value.fields == {"name": [refused.value.message]}
    assert api_key_check_name("  billing  ") == "billing"


def test_an_expiry_in_the_past_or_now_is_refused(admin_client):
    for moment in (timezone.now() - timedelta(minutes=1), timezone.now() - timedelta(days=400)):
        response = admin_client.post(ADD, {"name": "late", **expiry_fields(moment)})
        assert "must be in the future" in str(response.context["adminform"].form.errors["expires_at"])
    assert not ApiKey.objects.exists()


def test_a_future_expiry_is_kept(admin_client):
    moment = (timezone.now() + timedelta(days=30)).replace(second=0, microsecond=0)
    response = admin_client.post(ADD, {"name": "temporary", **expiry_fields(moment)})
    assert response.status_code == 200 and "raw_key" in response.context
    assert ApiKey.objects.get(name="temporary").expires_at == moment
    assert f"valid until {moment:%Y-%m-%d %H:%M} UTC" in response.content.decode()


def test_the_created_page_shows_the_key_once_in_a_readonly_input_with_a_copy_button(admin_client, caplog):
    caplog.set_level(logging.DEBUG)
    response = admin_client.post(ADD, {"name": "billing"})
    raw = response.context["raw_key"]
    html = response.content.decode()
    assert html.count(raw) == 1
    assert re.search(rf'<input id="api-key-value"[^>]* value="{re.escape(raw)}" readonly', html)
    assert 'data-copy-target="api-key-value"' in html and "Copy key" in html
    assert "will not be shown again" in html
    assert re.search(r'<script src="/static/echopilot/copy\.js"', html)
    assert "<script>" not in html and "onclick" not in html
    assert "no-store" in response["Cache-Control"]
    # Nowhere else: not in a message, the session, a cookie or a log line.
    assert raw not in str(dict(admin_client.session.items()))
    assert raw not in str(response.cookies)
    assert raw not in caplog.text
    assert raw not in admin_client.get(LIST).content.decode()


def test_a_name_with_markup_is_kept_as_text_and_shown_escaped(admin_client):
    name = '<img src=x onerror="alert(1)">'
    response = admin_client.post(ADD, {"name": name})
    assert ApiKey.objects.get().name == name
    html = response.content.decode()
    assert name not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert name not in admin_client.get(LIST).content.decode()


def test_a_key_cannot_be_edited_or_deleted_only_revoked(admin_client):
    key, _ = make_api_key(name="billing")
    page = admin_client.get(f"{LIST}{key.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html and "deletelink" not in html
    assert admin_client.post(f"{LIST}{key.pk}/change/", {"name": "renamed"}).status_code == 403
    assert admin_client.post(f"{LIST}{key.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ApiKey.objects.get(pk=key.pk).name == "billing"


def test_the_status_filter_tells_active_revoked_and_expired_apart(admin_client):
    now = timezone.now()
    make_api_key(name="forever")
    make_api_key(name="until-tomorrow", expires_at=now + timedelta(days=1))
    make_api_key(name="in-a-minute", expires_at=now + timedelta(minutes=1))
    make_api_key(name="a-second-ago", expires_at=now - timedelta(seconds=1))
    make_api_key(name="last-year", expires_at=now - timedelta(days=365))
    revoked, _ = make_api_key(name="revoked", expires_at=now + timedelta(days=1))
    revoked_expired, _ = make_api_key(name="revoked-and-expired", expires_at=now - timedelta(days=1))
    ApiKey.objects.filter(pk__in=[revoked.pk, revoked_expired.pk]).update(revoked_at=now)

    def listed(status):
        return {key.name for key in admin_client.get(f"{LIST}?status={status}").context["cl"].result_list}

    assert listed("active") == {"forever", "until-tomorrow", "in-a-minute"}
    assert listed("expired") == {"a-second-ago", "last-year"}
    assert listed("revoked") == {"revoked", "revoked-and-expired"}
    # The filter and the Status column agree on every key.
    page = admin_client.get(LIST).content.decode()
    assert page.count('<td class="field-status">expired</td>') == 2
    assert page.count('<td class="field-status">revoked</td>') == 2
    assert page.count('<td class="field-status">active</td>') == 3


def test_the_revoke_message_names_the_keys_it_revoked(admin_client):
    first, _ = make_api_key(name="billing")
    second, _ = make_api_key(name="crm")
    response = admin_client.post(LIST, {"action": "revoke", "_selected_action": [first.pk, second.pk]}, follow=True)
    assert [str(m) for m in response.context["messages"]] == ["Revoked 2 keys: billing, crm."]
    response = admin_client.post(LIST, {"action": "revoke", "_selected_action": [first.pk]}, follow=True)
    assert [str(m) for m in response.context["messages"]] == ["No key revoked: the selected keys were already revoked."]
