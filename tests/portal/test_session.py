"""The portal keeps its own session: an admin logged in in the same browser is never touched by it."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.utils import timezone

from tests.constants import CUSTOMER
from tests.fixtures.portal import form_post, portal_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_session(client):
    """An admin logged in with the test client: returns a function giving (key, expiry, user id) of that session."""
    admin = User.objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(admin)
    assert client.get("/admin/").status_code == 200

    def state():
        key = client.cookies["sessionid"].value
        row = Session.objects.get(session_key=key)
        return key, row.expire_date, row.get_decoded().get("_auth_user_id")

    return state


def test_opening_using_and_leaving_the_portal_leaves_the_admin_session_alone(client, admin_session, issue, payments):
    before = admin_session()
    assert before[2] is not None
    link, path = issue(expiry_hours=168)

    responses = [client.get(path), client.get("/portal/"), client.get("/portal/receipts/pi_paid/")]
    responses.append(form_post(client, "/portal/receipts/pi_paid/send"))
    responses.append(client.get("/portal/receipts/pi_paid/"))
    assert "We are sending this receipt" in responses[-1].content.decode()
    responses.append(form_post(client, "/portal/sign-out"))
    assert [r.status_code for r in responses] == [302, 200, 200, 302, 200, 200]

    for response in responses:
        assert "sessionid" not in response.cookies  # never cycled, extended or deleted
    assert admin_session() == before  # same key, same expiry, same user
    assert client.get("/admin/").status_code == 200  # still logged in
    assert client.get("/portal/").status_code == 403  # the portal is signed out


def test_the_portal_session_has_its_own_cookie_and_ends_with_the_link(client, issue):
    link, path = issue(expiry_hours=24)
    response = client.get(path)
    cookie = response.cookies["portal_session"]
    assert cookie["path"] == "/portal" and cookie["httponly"] and cookie["samesite"] == "Lax"
    assert 24 * 3600 - 60 < int(cookie["max-age"]) <= 24 * 3600
    assert Session.objects.get(session_key=cookie.value).expire_date == link.expires_at
    assert "sessionid" not in response.cookies
    assert portal_session(client)["portal_email"] == CUSTOMER


def test_signing_out_of_the_portal_deletes_its_session_and_cookie(client, signed_in):
    key = client.cookies["portal_session"].value
    response = form_post(client, "/portal/sign-out")
    assert response.cookies["portal_session"].value == "" and response.cookies["portal_session"]["path"] == "/portal"
    assert not Session.objects.filter(session_key=key).exists()


def test_logging_out_of_the_admin_leaves_the_portal_open(client, admin_session, signed_in):
    client.post("/admin/logout/")
    assert client.get("/admin/").status_code == 302
    assert client.get("/portal/").status_code == 200


def test_portal_keys_in_the_admin_session_open_nothing(client, admin_session, signed_in):
    """The portal reads only its own cookie: the same keys in Django's session give no access."""
    stolen = dict(portal_session(client).items())
    del client.cookies["portal_session"]
    admin = client.session
    admin.update(stolen)
    admin.save()
    assert client.get("/portal/").status_code == 403


@pytest.mark.parametrize(
    "value",
    ["", "x", "0" * 31, "A" * 32, "a" * 33, "a" * 5000, "\\000" + "a" * 31, "../" * 11, "é" * 32],
)
def test_a_forged_portal_cookie_is_no_session(client, signed_in, value):
    client.cookies["portal_session"] = value
    response = client.get("/portal/")
    assert response.status_code == 403
    assert "This link is not valid any more" in response.content.decode()


def test_an_expired_portal_session_is_no_session(client, signed_in):
    key = client.cookies["portal_session"].value
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(seconds=1))
    assert client.get("/portal/").status_code == 403
