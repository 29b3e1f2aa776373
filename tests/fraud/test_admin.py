"""Who may decide reviews in the admin: fraud.review_fraudcheck, not the view permission."""

from decimal import Decimal

import pytest

from fraud.models import FraudReview, RuleSet
from fraud.rulesets import ruleset_draft
from fraud.services import fraud_check_create

pytestmark = pytest.mark.django_db

REVIEWS = "/admin/fraud/fraudreview/"
CHECKS = "/admin/fraud/fraudcheck/"
VIEW = ("fraud.view_fraudreview", "fraud.view_fraudcheck")


def test_a_view_only_user_sees_the_queue_without_the_decisions(staff_login, review_check):
    client = staff_login(*VIEW)
    page = client.get(REVIEWS).content.decode()
    assert review_check.email in page
    assert 'value="approve"' not in page and 'value="reject"' not in page
    assert 'value="open_review"' not in client.get(CHECKS).content.decode()


def test_a_forged_approval_by_a_view_only_user_is_403_and_changes_nothing(staff_login, review_check):
    client = staff_login(*VIEW)
    review = review_check.review
    for action in ("approve", "reject"):
        response = client.post(
            REVIEWS, {"action": action, "_selected_action": [review.pk], "resolution": "fraud", "index": "0"}
        )
        assert response.status_code == 403
    review.refresh_from_db()
    assert (review.state, review.closed_by) == (FraudReview.State.OPEN, "")


def test_a_forged_manual_review_by_a_view_only_user_is_403(staff_login):
    check = fraud_check_create(email="small@example.com", amount=Decimal("5.00"))
    response = staff_login(*VIEW).post(CHECKS, {"action": "open_review", "_selected_action": [check.pk], "index": "0"})
    assert response.status_code == 403
    assert not FraudReview.objects.exists()


def test_a_reviewer_decides_on_the_review_page_not_with_bulk_actions(staff_login, review_check):
    client = staff_login(*VIEW, "fraud.review_fraudcheck")
    assert 'name="action"' not in client.get(REVIEWS).content.decode()
    page = f"{REVIEWS}{review_check.review.pk}/change/"
    assert 'value="approve"' in client.get(page).content.decode()
    client.post(page, {"decision": "approve", "resolution": "", "note": ""})
    review_check.review.refresh_from_db()
    assert (review_check.review.state, review_check.review.closed_by) == (FraudReview.State.APPROVED, "user:staff")


def test_the_list_page_names_the_always_allowed_emails_of_the_rules_in_force(staff_login, settings):
    settings.GUARD_EMAIL_ALLOW = ["vip@example.com"]
    client = staff_login("fraud.view_listentry")
    assert (
        "from GUARD_EMAIL_ALLOW (read-only): vip@example.com" in client.get("/admin/fraud/listentry/").content.decode()
    )
    draft = ruleset_draft(note="other VIPs", by="ann", email_allow=["ceo@example.com"])
    RuleSet.objects.filter(pk=draft.pk).update(state="active")
    page = client.get("/admin/fraud/listentry/").content.decode()
    assert "from rule set v2 (read-only): ceo@example.com" in page
