"""Fraud checks in the admin: read-only records with the decision, the reason in plain words and the amount."""

import html
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from fraud.models import FraudCheck, FraudReview
from fraud.services import fraud_check_create
from tests.factories import make_fraud_check

pytestmark = pytest.mark.django_db

CHECKS = "/admin/fraud/fraudcheck/"
FORM_FIELDS = re.compile(r'<(?:select|textarea|input(?![^>]*type="hidden"))\b')


def velocity_check(**fields) -> FraudCheck:
    values = {
        "decision": "block",
        "email": "grace@example.org",
        "amount": Decimal("7250.00"),
        "reason": "velocity_exceeded_6_per_hour",
        "rule": "velocity",
        "limit": "5",
        "observed": {"recent_count": 6, "window": "1h"},
        "created_at": datetime(2026, 11, 29, 6, 4, tzinfo=UTC),
        **fields,
    }
    return make_fraud_check(**values)


def test_a_check_cannot_be_added_changed_or_deleted_even_by_a_superuser(admin_client):
    check = velocity_check()
    page = admin_client.get(f"{CHECKS}{check.pk}/change/").text
    assert 'name="_save"' not in page and "deletelink" not in page
    assert not FORM_FIELDS.findall(page.split('id="content-main"', 1)[1])
    assert admin_client.post(f"{CHECKS}{check.pk}/change/", {"decision": "allow"}).status_code == 403
    assert admin_client.post(f"{CHECKS}{check.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.post(f"{CHECKS}add/", {"email": "x@example.com"}).status_code == 403
    assert 'value="delete_selected"' not in admin_client.get(CHECKS).text
    check.refresh_from_db()
    assert check.decision == "block"


def test_the_list_shows_decision_reason_in_plain_words_amount_and_time(admin_client):
    velocity_check()
    make_fraud_check(decision="allow", reason="all_checks_passed", amount=Decimal("12000"), currency="jpy")
    listing = admin_client.get(CHECKS).text
    assert "6 payments with this card in the past hour (limit 5)" in listing
    assert "velocity_exceeded_6_per_hour" not in listing.split("<tbody>", 1)[1]
    assert "All checks passed" in listing
    assert ">Block</span>" in listing and ">Allow</span>" in listing
    assert "USD 7,250.00" in listing and "JPY 12,000" in listing
    assert "2026-11-29 06:04 UTC" in listing


def test_the_detail_page_shows_the_evidence_readably(admin_client):
    check = velocity_check(caller_daily_total=Decimal("12345.60"))
    detail = admin_client.get(f"{CHECKS}{check.pk}/change/").text
    assert "6 payments with this card in the past hour (limit 5)" in detail
    assert "USD 7,250.00" in detail and "USD 12,345.60" in detail and "2026-11-29 06:04 UTC" in detail
    assert '<pre class="record-json">{\n  "recent_count": 6,\n  "window": "1h"\n}</pre>' in html.unescape(detail)
    assert "{'recent_count'" not in html.unescape(detail)


def test_opening_reviews_says_which_and_how_many_already_had_one(admin_client):
    fresh = velocity_check(decision="allow", reason="all_checks_passed")
    reviewed = fraud_check_create(email="big@example.com", amount=Decimal("6000.00"), card_fingerprint="fpX")
    response = admin_client.post(
        CHECKS, {"action": "open_review", "_selected_action": [fresh.pk, reviewed.pk]}, follow=True
    )
    assert "Opened 1 review: grace@…, USD 7,250.00. 1 check already had one." in response.text
    assert FraudReview.objects.filter(fraud_check=fresh, state="open").exists()


def test_hostile_text_in_a_check_is_escaped(admin_client):
    check = velocity_check(email="<script>x</script>@example.com", reason="<b>new_code</b>")
    for page in (admin_client.get(CHECKS).text, admin_client.get(f"{CHECKS}{check.pk}/change/").text):
        assert "<script>x</script>" not in page and "<b>new_code</b>" not in page
