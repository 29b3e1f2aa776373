"""POST /api/portal/link and POST /api/portal/revoke."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from echopilot.exceptions import RateLimited
from portal.models import PortalLink, PortalRevocation
from portal.services import portal_link_request
from tests.constants import CUSTOMER
from tests.fixtures.portal import path_of

pytestmark = pytest.mark.django_db


def create(api, **data):
    return api.post("/api/portal/link", data, format="json")


def test_it_issues_a_link_that_opens_the_portal(api, client, settings, read_audit, django_capture_on_commit_callbacks):
    settings.PUBLIC_BASE_URL = "https://pay.example.com"
    with django_capture_on_commit_callbacks(execute=True):
        response = create(api, email=" Ann@Example.com ")
    body = response.json()
    assert response.status_code == 200 and body["ok"] is True
    assert body["email"] == CUSTOMER and body["link_id"].startswith("pl_")
    assert body["url"].startswith("/portal?e=ann%40example.com&exp=")
    assert body["full_url"] == "https://pay.example.com" + body["url"]
    assert body["expires_at"].endswith("Z")
    link = PortalLink.objects.get()
    assert (link.public_id, link.created_by) == (body["link_id"], "key:DASHBOARD_KEY#1")
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert abs(expires - (timezone.now() + timedelta(hours=24))) < timedelta(seconds=5)
    [event] = read_audit("portal_links")
    assert (event["event"], event["link"], event["created_by"]) == (
        "link_created",
        link.public_id,
        "key:DASHBOARD_KEY#1",
    )
    assert "sig" not in str(event) and body["url"].rsplit("sig=", 1)[1] not in str(event)
    assert client.get(path_of(body["url"])).status_code == 302


def test_the_caller_chooses_the_duration(api):
    body = create(api, email=CUSTOMER, expiry_hours=1).json()
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert abs(expires - (timezone.now() + timedelta(hours=1))) < timedelta(seconds=5)


@pytest.mark.parametrize(
    "data",
    [
        ({}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"email": CUSTOMER, "expiry_hours": 0}, "expiry_hours"),
        ({"email": CUSTOMER, "expiry_hours": 169}, "expiry_hours"),
        ({"email": CUSTOMER, "expiry_hours": 1.5}, "expiry_hours"),
        ({"email": CUSTOMER, "expiry_hours": "soon"}, "expiry_hours"),
        ({"email": CUSTOMER, "expiry_hours": True}, "expiry_hours"),
    ],
)
def test_it_validates_the_request(api, data):
    data, field = data
    response = create(api, **data)
    assert response.status_code == 400 and response.json()["error"] == "validation_error"
    assert field in response.json()["fields"]
    assert PortalLink.objects.count() == 0


def test_it_limits_links_per_customer_email(api, settings):
    settings.PORTAL_RATE_PER_EMAIL = 2
    assert [create(api, email=CUSTOMER).status_code for _ in range(2)] == [200, 200]
    refused = create(api, email="ANN@example.com")
    assert refused.status_code == 429 and refused.json()["error"] == "rate_limited"
    assert 0 < int(refused["Retry-After"]) <= 3600
    assert create(api, email="bob@example.com").status_code == 200


def test_it_limits_links_per_api_key(api, anon, settings):
    settings.PORTAL_RATE_PER_KEY = 2
    create(api, email="a@example.com")
    create(api, email="b@example.com")
    assert create(api, email="c@example.com").status_code == 429
    other_key = anon.post(
        "/api/portal/link", {"email": "c@example.com"}, format="json", HTTP_X_DASH_KEY="test-dash-key-2"
    )
    assert other_key.status_code == 200


def test_the_limit_is_per_clock_hour():
    now = datetime(2026, 3, 4, 10, 59, 30, tzinfo=UTC)
    for _ in range(10):
        portal_link_request(email=CUSTOMER, created_by="test", now=now)
    with pytest.raises(RateLimited) as refused:
        portal_link_request(email=CUSTOMER, created_by="test", now=now)
    assert refused.value.retry_after == 30
    portal_link_request(email=CUSTOMER, created_by="test", now=now + timedelta(seconds=30))


def test_with_the_cache_down_it_still_issues_and_limits_links(api, cache_down, settings):
    settings.PORTAL_RATE_PER_EMAIL = 1  # the counters are in the database, not the cache
    assert create(api, email=CUSTOMER).status_code == 200
    assert create(api, email=CUSTOMER).status_code == 429
    assert PortalLink.objects.count() == 1


def test_it_revokes_one_link(api, issue):
    link, _ = issue()
    other, _ = issue()
    response = api.post("/api/portal/revoke", {"link_id": link.public_id}, format="json")
    assert response.status_code == 200 and response.json() == {"ok": True, "revoked": 1}
    assert api.post("/api/portal/revoke", {"link_id": link.public_id}, format="json").json()["revoked"] == 0
    other.refresh_from_db()
    assert other.revoked_at is None


def test_it_revokes_every_link_of_an_email(api, issue, read_audit, django_capture_on_commit_callbacks):
    issue()
    issue(expiry_hours=2)
    bob, _ = issue("bob@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/portal/revoke", {"email": "ANN@example.com"}, format="json")
    assert response.json() == {"ok": True, "revoked": 2}
    assert PortalRevocation.objects.get().email == CUSTOMER
    assert PortalLink.objects.filter(revoked_at__isnull=True).get() == bob
    event = read_audit("portal_links")[-1]
    assert (event["event"], event["email"], event["revoked"], event["by"]) == (
        "email_revoked",
        CUSTOMER,
        2,
        "key:DASHBOARD_KEY#1",
    )


@pytest.mark.parametrize("data", [{}, {"email": CUSTOMER, "link_id": "pl_1"}, {"email": "nope"}])
def test_revoke_needs_exactly_one_of_email_and_link_id(api, data):
    response = api.post("/api/portal/revoke", data, format="json")
    assert response.status_code == 400 and response.json()["ok"] is False


def test_revoking_an_unknown_link_is_not_found(api):
    response = api.post("/api/portal/revoke", {"link_id": "pl_nope"}, format="json")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_both_routes_are_documented(api):
    paths = api.get("/api/schema/?format=json").json()["paths"]
    link = paths["/api/portal/link"]["post"]
    assert "200" in link["responses"] and "429" in link["responses"]
    assert link["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/LinkInputRequest")
    assert paths["/api/portal/revoke"]["post"]["responses"]["200"]["content"]["application/json"]["schema"][
        "$ref"
    ].endswith("/RevokeOutput")


def test_link_answers_are_never_stored_by_a_cache(api, anon, settings):
    """A link is a credential: every answer of POST /api/portal/link says no-store, errors included."""
    settings.PORTAL_RATE_PER_EMAIL = 1
    answers = {
        200: create(api, email=CUSTOMER),
        429: create(api, email=CUSTOMER),
        400: create(api, email="not-an-address"),
        401: anon.post("/api/portal/link", {"email": CUSTOMER}, format="json"),
    }
    for status, response in answers.items():
        assert response.status_code == status
        assert response["Cache-Control"] == "no-store"
