"""Reviews through the API and the admin queue."""

import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from echopilot.exceptions import Conflict, Invalid
from fraud.models import FraudCheck, FraudReview
from fraud.serializers import check_to_dict
from fraud.services import REJECTION_NEEDS_A_REASON, fraud_check_create, fraud_review_act

pytestmark = pytest.mark.django_db


def test_an_operator_approves_a_review_through_the_api(api, review_check):
    response = api.post(
        f"/api/fraud/checks/{review_check.check_id}/review", {"action": "approve", "note": "called them"}, format="json"
    )
    review = response.json()["review"]
    assert response.status_code == 200
    assert review["state"] == "approved" and review["note"] == "called them"
    assert review["closed_by"] == "key:DASHBOARD_KEY#1" and review["closed_at"]


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
    check = fraud_check_create(email="small@example.com", amount=Decimal("5.00"))
    url = f"/api/fraud/checks/{check.check_id}/review"
    opened = api.post(url, {"action": "open"}, format="json").json()["review"]
    assert opened["opened_reason"] == "manual" and opened["state"] == "open"
    assert api.post(url, {"action": "open"}, format="json").status_code == 409


def test_closing_a_check_without_a_review_is_a_conflict(api):
    check = fraud_check_create(email="small@example.com", amount=Decimal("5.00"))
    response = api.post(f"/api/fraud/checks/{check.check_id}/review", {"action": "approve"}, format="json")
    assert response.status_code == 409


def test_the_conflicts_are_documented(api):
    review = api.get("/api/schema/?format=json").json()["paths"]["/api/fraud/checks/{check_id}/review"]["post"]
    conflict = review["responses"]["409"]
    assert conflict["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    assert all(code in conflict["description"] for code in ("review_exists", "no_review", "review_closed"))


def test_review_actions_are_audited(api, review_check, read_audit, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        api.post(
            f"/api/fraud/checks/{review_check.check_id}/review",
            {"action": "reject", "resolution": "fraud"},
            format="json",
        )
    [line] = [line for line in read_audit("fraud_guard") if line["event"] == "review_closed"]
    assert line["check_id"] == review_check.check_id and line["state"] == "rejected" and line["resolution"] == "fraud"


def _page(review):
    return f"/admin/fraud/fraudreview/{review.pk}/change/"


def test_the_admin_queue_shows_open_reviews_and_the_page_the_history(admin_client, review_check):
    fraud_check_create(email="big@example.com", amount=Decimal("12.00"))
    closed = fraud_check_create(email="other@example.com", amount=Decimal("7000.00"))
    FraudReview.objects.filter(fraud_check=closed).update(state="approved")
    page = admin_client.get("/admin/fraud/fraudreview/")
    html = page.content.decode()
    assert page.status_code == 200
    assert review_check.email in html and closed.email not in html
    detail = admin_client.get(_page(review_check.review)).content.decode()
    assert "USD 12.00" in detail  # the customer's other check, inline


def test_the_admin_rejects_with_a_reason_and_note(admin_client, review_check):
    review = review_check.review
    admin_client.post(
        _page(review), {"decision": "reject", "resolution": "customer_request", "note": "asked to cancel"}
    )
    review.refresh_from_db()
    assert (review.state, review.resolution, review.note, review.closed_by) == (
        "rejected",
        "customer_request",
        "asked to cancel",
        "user:admin",
    )


def test_the_admin_will_not_reject_without_a_reason(admin_client, review_check):
    admin_client.post(_page(review_check.review), {"decision": "reject", "resolution": "", "note": ""})
    review_check.review.refresh_from_db()
    assert review_check.review.state == "open"


def _refetched(check):
    return check_to_dict(FraudCheck.objects.select_related("review").get(pk=check.pk))


def test_an_api_approve_reads_once_and_answers_what_is_stored(api, review_check, django_assert_max_num_queries):
    # Before: 6 queries (check, review, UPDATE, review re-read, check re-read for the audit, final refetch).
    with django_assert_max_num_queries(2):  # the check with its review, the conditional UPDATE
        response = api.post(
            f"/api/fraud/checks/{review_check.check_id}/review", {"action": "approve", "note": "ok"}, format="json"
        )
    assert response.status_code == 200
    assert response.json() == json.loads(json.dumps(_refetched(review_check)))


def test_an_api_open_answers_what_is_stored(api):
    check = fraud_check_create(email="small@example.com", amount=Decimal("5.00"))
    response = api.post(f"/api/fraud/checks/{check.check_id}/review", {"action": "open"}, format="json")
    assert response.status_code == 200
    assert response.json() == json.loads(json.dumps(_refetched(check)))


def test_the_review_page_keeps_a_plus_in_the_email_apart(admin_client):
    check = fraud_check_create(email="a+b@x.com", amount=Decimal("6000.00"))
    own = fraud_check_create(email="a+b@x.com", amount=Decimal("13.00"))
    other = fraud_check_create(email="ab@x.com", amount=Decimal("12.00"))
    detail = admin_client.get(_page(check.review)).content.decode()
    assert own.check_id in detail and other.check_id not in detail
    found = admin_client.get("/admin/fraud/fraudcheck/", {"q": "a+b@x.com"}).content.decode()
    assert check.check_id in found and "ab@x.com" not in found


def test_the_check_list_searches_exact_indexed_values(admin_client):
    one = fraud_check_create(
        email="ann@example.com", amount=Decimal("5.00"), card_fingerprint="fpA", payment_id="pay_1"
    )
    two = fraud_check_create(email="bob@example.com", amount=Decimal("5.00"), card_fingerprint="fpB")

    def found(term):
        page = admin_client.get("/admin/fraud/fraudcheck/", {"q": term}).content.decode()
        return {c.check_id for c in (one, two) if c.check_id in page}

    assert found(" Ann@Example.com ") == {one.check_id}
    assert found(two.check_id) == {two.check_id}
    assert found("pay_1") == {one.check_id}
    assert found("fpB") == {two.check_id}
    assert found("ann@") == set()  # no substring scan over the table


def test_the_check_list_does_not_count_the_whole_table(admin_client):
    fraud_check_create(email="ann@example.com", amount=Decimal("5.00"))
    with CaptureQueriesContext(connection) as queries:
        assert admin_client.get("/admin/fraud/fraudcheck/", {"q": "ann@example.com"}).status_code == 200
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"]]
    assert counts and all("WHERE" in sql for sql in counts)
    assert not any("payments_payment" in q["sql"] for q in queries.captured_queries)  # no payment column, no join


# --- fraud_review_act: the one service behind the API's and the admin's decisions ---


def _act(check, action, **kwargs):
    return fraud_review_act(check=check, action=action, by="user:ann", **kwargs)


def test_the_service_opens_a_manual_review_on_a_check_without_one():
    check = fraud_check_create(email="small@example.com", amount=Decimal("5.00"))
    review = _act(check, "open")
    assert (review.state, review.opened_reason, review.opened_by) == ("open", "manual", "user:ann")
    assert check.review == review == FraudReview.objects.get()


def test_the_service_refuses_to_open_a_second_review(review_check):
    with pytest.raises(Conflict) as refused:
        _act(review_check, "open")
    assert (refused.value.code, refused.value.message) == ("review_exists", "This check already has a review.")


@pytest.mark.parametrize("action, resolution, state", [("approve", "", "approved"), ("reject", "fraud", "rejected")])
def test_the_service_closes_an_open_review(review_check, action, resolution, state):
    review = _act(review_check, action, resolution=resolution, note="n")
    stored = FraudReview.objects.get()
    assert (stored.state, stored.resolution, stored.note, stored.closed_by) == (state, resolution, "n", "user:ann")
    assert (review.state, review.closed_by) == (state, "user:ann")  # brought up to date in memory


def test_the_service_closes_a_review_only_once(review_check):
    _act(review_check, "approve")
    with pytest.raises(Conflict) as refused:
        _act(FraudCheck.objects.get(pk=review_check.pk), "reject", resolution="fraud")
    assert refused.value.code == "review_closed"
    assert FraudReview.objects.get().state == "approved"


def test_the_service_has_no_review_to_close_on_a_check_without_one():
    check = fraud_check_create(email="small@example.com", amount=Decimal("5.00"))
    with pytest.raises(Conflict) as refused:
        _act(check, "approve")
    assert refused.value.code == "no_review"


def test_the_service_will_not_reject_without_a_reason(review_check):
    with pytest.raises(Invalid) as refused:
        _act(review_check, "reject")
    assert refused.value.message == REJECTION_NEEDS_A_REASON
    assert refused.value.fields == {"resolution": [REJECTION_NEEDS_A_REASON]}
    assert FraudReview.objects.get().state == "open"


@pytest.mark.parametrize("action, resolution, field", [("close", "", "action"), ("approve", "whim", "resolution")])
def test_the_service_refuses_an_unknown_action_or_resolution(review_check, action, resolution, field):
    with pytest.raises(Invalid) as refused:
        _act(review_check, action, resolution=resolution)
    assert list(refused.value.fields) == [field]
    assert FraudReview.objects.get().state == "open"


def test_the_api_answers_the_services_refusal(api, review_check):
    response = api.post(f"/api/fraud/checks/{review_check.check_id}/review", {"action": "reject"}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "error": "validation_error",
        "message": REJECTION_NEEDS_A_REASON,
        "fields": {"resolution": [REJECTION_NEEDS_A_REASON]},
    }


def test_the_admin_shows_the_services_refusal(admin_client, review_check):
    response = admin_client.post(
        _page(review_check.review), {"decision": "reject", "resolution": "", "note": "keep me"}
    )
    assert REJECTION_NEEDS_A_REASON in response.content.decode()
    assert "keep me" in response.content.decode()  # the page comes back with the note typed
    assert FraudReview.objects.get().state == "open"


def test_the_admin_says_when_someone_else_closed_the_review(admin_client, review_check):
    admin_client.get(_page(review_check.review))  # the page is drawn, then someone else decides
    _act(review_check, "approve")
    response = admin_client.post(
        _page(review_check.review), {"decision": "reject", "resolution": "fraud", "note": ""}, follow=True
    )
    assert "This review is already closed." in response.content.decode()
    assert FraudReview.objects.get().state == "approved"


def test_the_admin_opens_manual_reviews_through_the_service(admin_client, review_check):
    check = fraud_check_create(email="small@example.com", amount=Decimal("5.00"))
    response = admin_client.post(
        "/admin/fraud/fraudcheck/",
        {"action": "open_review", "_selected_action": [check.pk, review_check.pk]},
        follow=True,
    )
    assert "Opened 1 review: small@…, USD 5.00. 1 check already had one." in response.content.decode()
    assert FraudReview.objects.get(fraud_check=check).opened_by == "user:admin"
