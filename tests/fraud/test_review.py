"""Reviews through the API and the admin queue."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import User

from fraud.models import FraudReview
from fraud.services import fraud_check_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def review_check():
    return fraud_check_create(email="big@example.com", amount=Decimal("6000.00"), card_fingerprint="fpX").check


def test_an_operator_approves_a_review_through_the_api(api, review_check):
    response = api.post(
        f"/api/fraud/checks/{review_check.check_id}/review", {"action": "approve", "note": "called them"}, format="json"
    )
    review = response.json()["review"]
    assert response.status_code == 200
    assert review["state"] == "approved" and review["note"] == "called them"
    assert review["closed_by"] == "dashboard_key:1" and review["closed_at"]


def test_a_rejection_needs_a_reason(api, review_check):
    response = api.post(f"/api/fraud/checks/{review_check.check_id}/review", {"action": "reject"}, format="json")
    assert response.status_code == 400 and "resolution" in response.json()["fields"]
    response = api.post(
        f"/api/fraud/checks/{review_check.check_id}/review", {"action": "reject", "resolution": "fraud"}, format="json"
    )
    assert response.json()["review"]["state"] == "rejected"


def test_a_review_is_closed_only_once(api, review_check):
    url = f"/api/fraud/checks/{review_check.check_id}/review"
    api.post(url, {"action": "approve"}, format="json")
    again = api.post(url, {"action": "reject", "resolution": "other"}, format="json")
    assert again.status_code == 409 and again.json()["error"] == "review_closed"
    assert FraudReview.objects.get().state == "approved"


def test_a_manual_review_can_be_opened_on_any_check(api):
    check = fraud_check_create(email="small@example.com", amount=Decimal("5.00")).check
    url = f"/api/fraud/checks/{check.check_id}/review"
    opened = api.post(url, {"action": "open"}, format="json").json()["review"]
    assert opened["opened_reason"] == "manual" and opened["state"] == "open"
    assert api.post(url, {"action": "open"}, format="json").status_code == 409


def test_closing_a_check_without_a_review_is_a_conflict(api):
    check = fraud_check_create(email="small@example.com", amount=Decimal("5.00")).check
    response = api.post(f"/api/fraud/checks/{check.check_id}/review", {"action": "approve"}, format="json")
    assert response.status_code == 409


def test_review_actions_are_audited(api, review_check, read_audit, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        api.post(
            f"/api/fraud/checks/{review_check.check_id}/review",
            {"action": "reject", "resolution": "fraud"},
            format="json",
        )
    [line] = [line for line in read_audit("fraud_guard") if line["event"] == "review_closed"]
    assert line["check_id"] == review_check.check_id and line["state"] == "rejected" and line["resolution"] == "fraud"


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create_user("rev", password="pw", is_staff=True, is_superuser=True))
    return client


def test_the_admin_queue_shows_open_reviews_first_with_history(staff, review_check):
    fraud_check_create(email="big@example.com", amount=Decimal("12.00"))
    closed = fraud_check_create(email="other@example.com", amount=Decimal("7000.00")).check
    FraudReview.objects.filter(fraud_check=closed).update(state="approved")
    page = staff.get("/admin/fraud/fraudreview/")
    html = page.content.decode()
    assert page.status_code == 200
    assert review_check.check_id in html and closed.check_id not in html
    detail = staff.get(f"/admin/fraud/fraudreview/{review_check.review.pk}/change/").content.decode()
    assert "12.00 USD" in detail  # the customer's other check, in the history
    assert "Their payments" in detail


def test_the_admin_rejects_with_a_reason_and_note(staff, review_check):
    review = review_check.review
    staff.post(
        "/admin/fraud/fraudreview/",
        {
            "action": "reject",
            "_selected_action": [review.pk],
            "resolution": "customer_request",
            "note": "asked to cancel",
        },
    )
    review.refresh_from_db()
    assert (review.state, review.resolution, review.note, review.closed_by) == (
        "rejected",
        "customer_request",
        "asked to cancel",
        "user:rev",
    )


def test_the_admin_will_not_reject_without_a_reason(staff, review_check):
    staff.post("/admin/fraud/fraudreview/", {"action": "reject", "_selected_action": [review_check.review.pk]})
    review_check.review.refresh_from_db()
    assert review_check.review.state == "open"
