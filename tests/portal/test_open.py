"""GET /portal?e=&exp=&sig=: opening a link starts a session; every failure is the same 403 page."""

from datetime import timedelta
from urllib.parse import quote

import pytest
from django.utils import timezone

from portal.links import link_sign
from portal.middleware import portal_headers
from portal.models import PortalLink
from portal.services import portal_email_revoke, portal_link_revoke
from tests.constants import CUSTOMER
from tests.fixtures.portal import portal_session

pytestmark = pytest.mark.django_db


def assert_invalid_page(response, reference):
    assert response.status_code == 403
    assert response.content == reference.content
    assert "portal_email" not in response.wsgi_request.portal_session


@pytest.fixture
def invalid_page(client):
    """The page every failure answers with (here: no parameters at all)."""
    return client.get("/portal")


def test_it_opens_a_link_and_redirects_to_the_portal_without_the_signature(client, issue):
    link, path = issue()
    response = client.get(path)
    assert response.status_code == 302 and response["Location"] == "/portal/"
    session = portal_session(client)
    assert (session["portal_email"], session["portal_link_id"]) == (CUSTOMER, link.public_id)
    assert session["portal_expires"] == int(link.expires_at.timestamp())
    assert session.get_expiry_date() == link.expires_at  # the session ends when the link would have
    assert client.get("/portal/").status_code == 200


def test_it_starts_a_new_session_key(client, issue):
    client.get(issue()[1])
    before = client.cookies["portal_session"].value
    client.get(issue()[1])
    assert client.cookies["portal_session"].value != before
    assert portal_session(client)["portal_email"] == CUSTOMER


def test_it_counts_uses(client, issue):
    link, path = issue()
    client.get(path)
    client.get(path)
    link.refresh_from_db()
    assert link.use_count == 2 and link.first_used_at <= link.last_used_at


def test_it_rejects_an_expired_link(client, issue, invalid_page):
    _, path = issue(now=timezone.now() - timedelta(hours=2), expiry_hours=1)
    assert_invalid_page(client.get(path), invalid_page)


@pytest.mark.parametrize("part", ["e", "exp", "sig"])
def test_it_rejects_a_tampered_link(client, issue, invalid_page, part):
    link, path = issue()
    values = {"e": quote(CUSTOMER), "exp": str(int(link.expires_at.timestamp())), "sig": path.rsplit("sig=", 1)[1]}
    values[part] = {"e": quote("eve@example.com"), "exp": str(int(values["exp"]) + 3600), "sig": "x" + values["sig"]}[
        part
    ]
    response = client.get(f"/portal?e={values['e']}&exp={values['exp']}&sig={values['sig']}")
    assert_invalid_page(response, invalid_page)
    assert PortalLink.objects.get().use_count == 0


def test_it_rejects_a_correctly_signed_link_that_was_never_issued(client, invalid_page):
    exp = int(timezone.now().timestamp()) + 3600
    path = f"/portal?e={quote(CUSTOMER)}&exp={exp}&sig={link_sign(email=CUSTOMER, exp=exp)}"
    assert_invalid_page(client.get(path), invalid_page)


def test_it_rejects_a_revoked_link(client, issue, invalid_page):
    link, path = issue()
    portal_link_revoke(link=link, revoked_by="test")
    assert_invalid_page(client.get(path), invalid_page)


def test_revoke_all_stops_earlier_links_but_not_later_ones(client, issue, invalid_page):
    _, earlier = issue()
    other_link, other = issue("bob@example.com")
    portal_email_revoke(email=CUSTOMER, revoked_by="test")
    _, later = issue(expiry_hours=2)
    assert_invalid_page(client.get(earlier), invalid_page)
    assert client.get(later).status_code == 302
    assert client.get(other).status_code == 302


def test_the_revocation_list_also_stops_a_link_issued_in_the_same_instant(client, issue, invalid_page):
    # A link written concurrently with a revoke-all has no revoked_at, but is issued before the revocation.
    now = timezone.now()
    _, path = issue(now=now)
    portal_email_revoke(email=CUSTOMER, revoked_by="test", now=now)
    PortalLink.objects.update(revoked_at=None)
    assert_invalid_page(client.get(path), invalid_page)


def test_links_signed_before_a_secret_rotation_keep_working_through_the_fallbacks(client, issue, settings):
    _, path = issue()
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "rotated-secret-" + "z" * 40, [settings.SECRET_KEY]
    assert client.get(path).status_code == 302
    settings.SECRET_KEY_FALLBACKS = []
    client.cookies.clear()
    assert client.get(path).status_code == 403


def test_two_links_in_the_same_second_get_their_own_signatures(issue):
    now = timezone.now()
    first, first_path = issue(now=now)
    second, second_path = issue(now=now)
    assert first_path != second_path and first.sig_hash != second.sig_hash
    assert second.expires_at == first.expires_at - timedelta(seconds=1)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?e=&exp=&sig=",
        "?e=ann%40example.com&exp=%EF%BC%91%EF%BC%92&sig=abc",
        "?e=ann%40example.com&exp=99999999999999999999999&sig=abc",
        "?e=ann%40example.com&exp=9999999999&sig=abc",
        "?e=%00&exp=1&sig=abc",
        "?e=%ff%fe&exp=1&sig=%ff",
        "?e=" + "a" * 5000 + "&exp=1&sig=" + "b" * 5000,
        "?e=a&e=b&exp=1&sig=abc",
        "?e[]=a&exp[]=1&sig[]=abc",
        "?sig=abc:def&e=a@b.c&exp=1",
        "?e=ann%40example.com&exp=1&sig=%F0%9F%92%A5",
        "?%00=%00",
    ],
)
def test_odd_inputs_get_the_invalid_page_never_an_error(client, invalid_page, query):
    assert_invalid_page(client.get("/portal" + query), invalid_page)


def test_the_invalid_page_explains_what_to_do(invalid_page):
    assert "This link is not valid any more — ask for a new one" in invalid_page.content.decode()
    assert b"receipt email" in invalid_page.content


def test_a_post_to_the_link_is_refused(client, issue):
    assert client.post(issue()[1]).status_code == 405


def test_every_answer_carries_the_portal_headers(client, issue, invalid_page):
    link, path = issue()
    for response in (invalid_page, client.get(path), client.post("/portal"), client.get("/portal/nothing")):
        for name, value in portal_headers(response.wsgi_request.path).items():
            assert response[name] == value, (response.status_code, name)
    assert invalid_page["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in invalid_page["Content-Security-Policy"]
    assert client.get("/static/portal/portal.css").get("Content-Security-Policy") is None


def test_opening_and_rejecting_are_audited_without_the_signature(
    client, issue, read_audit, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        link, path = issue()
        client.get(path)
        client.get(path.replace("sig=", "sig=x"))
    events = read_audit("portal_links")
    assert [e["event"] for e in events] == ["link_created", "link_opened", "link_rejected"]
    assert (events[1]["link"], events[1]["email"], events[1]["use_count"]) == (link.public_id, CUSTOMER, 1)
    assert events[2]["reason"] == "bad_signature"
    assert path.rsplit("sig=", 1)[1] not in str(events)


def _parts(path: str) -> dict:
    from urllib.parse import parse_qs, urlsplit

    return {key: values[0] for key, values in parse_qs(urlsplit(path).query).items()}


def _path(e: str, exp: str, sig: str) -> str:
    return f"/portal?e={quote(e)}&exp={quote(exp)}&sig={quote(sig)}"


@pytest.mark.parametrize(
    "change",
    [
        lambda p: {**p, "sig": p["sig"][:-1]},  # truncated
        lambda p: {**p, "sig": p["sig"] + "A"},  # extended
        lambda p: {**p, "sig": ""},  # empty
        lambda p: {**p, "sig": p["sig"][:5] + ("A" if p["sig"][5] != "A" else "B") + p["sig"][6:]},  # one flipped
        lambda p: {**p, "sig": "é" + p["sig"][1:]},  # non-ASCII
        lambda p: {**p, "e": "eve@example.com"},  # another email under the old signature
        lambda p: {**p, "exp": str(int(p["exp"]) + 86400)},  # a later expiry under the old signature
        lambda p: {**p, "exp": p["exp"] + "_"},
        lambda p: {**p, "exp": "+" + p["exp"]},
        lambda p: {**p, "exp": " " + p["exp"]},
        lambda p: {**p, "exp": "".join(chr(ord(c) + 0xFEE0) for c in p["exp"])},  # full-width digits
        lambda p: {**p, "exp": "9" * 5000},
    ],
)
def test_it_rejects_every_altered_link_with_the_same_page(client, issue, invalid_page, change):
    _, path = issue()
    altered = change(_parts(path))
    assert_invalid_page(client.get(_path(altered["e"], altered["exp"], altered["sig"])), invalid_page)
    assert PortalLink.objects.get().use_count == 0


def test_email_and_expiry_swapped_between_two_links_are_rejected(client, issue, invalid_page):
    ann = _parts(issue()[1])
    bob = _parts(issue("bob@example.com", expiry_hours=2)[1])
    for e, exp, sig in ((bob["e"], ann["exp"], ann["sig"]), (ann["e"], bob["exp"], ann["sig"])):
        assert_invalid_page(client.get(_path(e, exp, sig)), invalid_page)


def test_duplicate_parameters_are_rejected(client, issue, invalid_page):
    _, path = issue()
    for extra in ("&e=eve%40example.com", "&exp=1", "&sig=abc", "&e=" + quote(CUSTOMER)):
        assert_invalid_page(client.get(path + extra), invalid_page)


def test_a_link_works_until_the_second_it_expires():
    from portal.services import portal_link_create, portal_link_open

    link, path = portal_link_create(email=CUSTOMER, created_by="test", expiry_hours=1)
    parts = _parts(path)
    query = {"e": [parts["e"]], "exp": [parts["exp"]], "sig": [parts["sig"]]}
    assert portal_link_open(**query, now=link.expires_at - timedelta(seconds=1)) == link
    assert portal_link_open(**query, now=link.expires_at) is None


def test_a_signed_link_beyond_the_maximum_lifetime_is_rejected(client, issue, invalid_page, settings):
    _, path = issue(expiry_hours=100)
    settings.PORTAL_MAX_EXPIRY_HOURS = 24  # lowered after the link was issued
    assert_invalid_page(client.get(path), invalid_page)
    settings.PORTAL_MAX_EXPIRY_HOURS = 168
    assert client.get(path).status_code == 302


def test_an_address_with_plus_ampersand_percent_and_hash_opens_its_portal(client, issue):
    email = "a+b&c%d#e@example.com"
    _, path = issue(email)
    response = client.get(path)
    assert response.status_code == 302
    assert portal_session(client)["portal_email"] == email
