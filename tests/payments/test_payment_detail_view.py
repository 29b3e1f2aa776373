import pytest

from tests.factories import make_payment

pytestmark = pytest.mark.django_db


def test_it_shows_a_payment_by_its_provider_id(api):
    make_payment("pi_123", failure_code="card_declined", status="failed")
    response = api.get("/api/payments/pi_123")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert (body["payment"]["id"], body["payment"]["status"], body["payment"]["failure_code"]) == (
        "pi_123",
        "failed",
        "card_declined",
    )


def test_an_unknown_id_is_404(api):
    response = api.get("/api/payments/pi_missing")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_it_needs_a_dash_key(anon):
    make_payment("pi_123")
    response = anon.get("/api/payments/pi_123")
    assert response.status_code == 401
    assert "pi_123" not in response.content.decode()
