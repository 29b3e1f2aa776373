from datetime import UTC, datetime

import pytest

from tests.factories import make_payment

pytestmark = pytest.mark.django_db

URL = "/api/payments"


@pytest.fixture
def payments():
    make_payment("pi_old", created_at=datetime(2026, 1, 1, tzinfo=UTC))
    make_payment(
        "pi_failed", status="failed", failure_code="card_declined", created_at=datetime(2026, 1, 2, tzinfo=UTC)
    )
    make_payment("pi_grace", email="grace@example.org", created_at=datetime(2026, 1, 3, tzinfo=UTC))
    make_payment("pi_new", created_at=datetime(2026, 1, 4, 10, tzinfo=UTC))


def ids(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [payment["id"] for payment in response.json()["results"]]


def test_it_lists_payments_newest_first(api, payments):
    response = api.get(URL)
    body = response.json()
    assert (body["ok"], body["count"], body["next"], body["previous"]) == (True, 4, None, None)
    assert ids(response) == ["pi_new", "pi_grace", "pi_failed", "pi_old"]
    assert body["results"][0] == {
        "id": "pi_new",
        "email": "ann@example.com",
        "amount": "10.00",
        "currency": "usd",
        "status": "succeeded",
        "card_type": "unknown",
        "card_fingerprint": "",
        "failure_code": "",
        "failure_message": "",
        "created_at": "2026-01-04T10:00:00Z",
        "updated_at": body["results"][0]["updated_at"],
    }


def test_it_filters_by_email_case_insensitively(api, payments):
    assert ids(api.get(URL, {"email": " Grace@Example.ORG"})) == ["pi_grace"]


def test_it_filters_by_status(api, payments):
    assert ids(api.get(URL, {"status": "failed"})) == ["pi_failed"]


def test_it_filters_by_time_range_since_inclusive_until_exclusive(api, payments):
    assert ids(api.get(URL, {"since": "2026-01-02T00:00:00Z", "until": "2026-01-04T00:00:00Z"})) == [
        "pi_grace",
        "pi_failed",
    ]


def test_naive_times_mean_utc(api, payments):
    assert ids(api.get(URL, {"since": "2026-01-04T10:00:00"})) == ["pi_new"]
    assert ids(api.get(URL, {"since": "2026-01-04T11:00:00+01:00"})) == ["pi_new"]


def test_it_paginates(api, payments):
    first = api.get(URL, {"page_size": 3}).json()
    assert [p["id"] for p in first["results"]] == ["pi_new", "pi_grace", "pi_failed"]
    assert first["count"] == 4
    assert "page=2" in first["next"]
    assert ids(api.get(URL, {"page_size": 3, "page": 2})) == ["pi_old"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "paid"}, "status"),
        ({"email": "not-an-email"}, "email"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"page": "0"}, "page"),
        ({"page_size": "500"}, "page_size"),
        # A parameter without a value is refused, not read as absent (?since= listed everything).
        ({"since": ""}, "since"),
        ({"until": ""}, "until"),
        ({"email": ""}, "email"),
        ({"status": ""}, "status"),
        ({"page": ""}, "page"),
    ],
)
def test_it_names_the_bad_field(api, params, field):
    response = api.get(URL, params)
    assert response.status_code == 400
    body = response.json()
    assert (body["ok"], body["error"]) == (False, "validation_error")
    assert list(body["fields"]) == [field]


def test_it_needs_a_dash_key(anon, payments):
    assert anon.get(URL).status_code == 401
