"""POST /api/fraud/check and GET /api/fraud/checks/<id>."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from fraud.models import FraudCheck, FraudReview, ListEntry
from fraud.services import fraud_check_create
from tests.factories import make_payment

pytestmark = pytest.mark.django_db


def check(api, **body):
    return api.post("/api/fraud/check", {"email": "buyer@example.com", "amount": "10.00", **body}, format="json")


def test_the_documented_examples_give_the_documented_answers(api):
    cases = [
        (
            {"email": "alice@example.com", "amount": "49.99", "card_type": "credit"},
            (True, "allow", "all_checks_passed"),
        ),
        (
            {"email": "bob@example.com", "amount": "7500.00", "card_type": "debit"},
            (True, "review", "high_amount_requires_review"),
        ),
        (
            {"email": "carol@example.com", "amount": "120.00", "recent_count": 10},
            (False, "block", "velocity_exceeded_10_per_hour"),
        ),
        (
            {"email": "dave@example.com", "amount": "3000.00", "daily_total": "8000.00"},
            (False, "block", "daily_limit_exceeded_11000.00"),
        ),
    ]
    for body, expected in cases:
        answer = api.post("/api/fraud/check", body, format="json").json()
        assert (answer["ok"], answer["decision"], answer["reason"]) == expected
        assert answer["check_id"].startswith("fc_") and answer["ruleset_version"].startswith("v1-")


def test_the_demo_command_prints_the_originals_lines_first_and_records_nothing(capsys, read_audit):
    call_command("fraud_check", "--demo")
    assert capsys.readouterr().out.splitlines() == [
        # The original product's quick start, character for character.
        "test@example.com: allow - all_checks_passed",
        "suspicious@test.com: block - velocity_exceeded_10_per_hour",
        "normal@test.com: review - high_amount_requires_review",
        "dave@example.com: block - daily_limit_exceeded_11000.00",
    ]
    assert not FraudCheck.objects.exists() and read_audit("fraud_guard") == []


def test_the_originals_examples_give_the_same_answers_through_the_api(api):
    cases = [
        ({"email": "test@example.com", "amount": "49.99", "card_type": "credit"}, ("allow", "all_checks_passed")),
        (
            {"email": "suspicious@test.com", "amount": "100.00", "card_type": "credit", "recent_count": 10},
            ("block", "velocity_exceeded_10_per_hour"),
        ),
        (
            {"email": "normal@test.com", "amount": "6000.00", "card_type": "debit"},
            ("review", "high_amount_requires_review"),
        ),
    ]
    for body, expected in cases:
        answer = api.post("/api/fraud/check", body, format="json").json()
        assert (answer["decision"], answer["reason"]) == expected


def test_the_command_records_a_check(capsys):
    call_command("fraud_check", "--email", "Eve@Example.com", "--amount", "12.50", "--card-type", "debit")
    assert capsys.readouterr().out.startswith("eve@example.com: allow - all_checks_passed (fc_")
    assert FraudCheck.objects.get().created_by == "command:fraud_check"


def test_our_own_count_blocks_the_sixth_check_of_a_card_within_the_hour(api):
    answers = [check(api, card_fingerprint="fp1", email=f"u{n}@example.com").json() for n in range(6)]
    assert [a["decision"] for a in answers] == ["allow"] * 5 + ["block"]
    assert answers[5]["reason"] == "velocity_exceeded_5_per_hour"
    assert answers[5]["observed"]["ours_recent_count"] == 5


def test_without_a_fingerprint_the_card_is_the_email(api):
    for _ in range(5):
        check(api)
    assert check(api).json()["reason"] == "velocity_exceeded_5_per_hour"
    assert check(api, email="other@example.com").json()["decision"] == "allow"


def test_blocked_checks_count_towards_velocity_but_not_towards_the_daily_sum(api):
    check(api, amount="9000.00")
    assert check(api, amount="2000.00").json()["reason"] == "daily_limit_exceeded_11000.00"
    assert check(api, amount="1000.00").json()["decision"] == "allow"  # the blocked 2000 did not count
    assert check(api, amount="1.00").json()["observed"]["ours_recent_count"] == 3


def test_daily_sums_are_per_currency(api):
    check(api, amount="4000.00", currency="usd")
    assert check(api, amount="7000.00", currency="EUR").json()["reason"] == "high_amount_requires_review"
    assert check(api, amount="7000.00", currency="usd").json()["reason"] == "daily_limit_exceeded_11000.00"
    assert FraudCheck.objects.filter(currency="eur").count() == 1  # normalised to lowercase


def test_the_velocity_window_is_the_hour_before_now_excluding_its_start():
    now = timezone.now()
    for minutes in (60, 59):  # one exactly an hour old (not counted), one just inside
        fraud_check_create(email="w@example.com", amount=Decimal("1"), now=now - timedelta(minutes=minutes))
    result = fraud_check_create(email="w@example.com", amount=Decimal("1"), now=now)
    assert result.observed["ours_recent_count"] == 1


def test_the_daily_window_is_the_24_hours_before_now_excluding_its_start():
    now = timezone.now()
    fraud_check_create(email="d@example.com", amount=Decimal("4000"), now=now - timedelta(hours=24))
    fraud_check_create(email="d@example.com", amount=Decimal("3000"), now=now - timedelta(hours=23, minutes=59))
    result = fraud_check_create(email="d@example.com", amount=Decimal("1"), now=now)
    assert result.observed["ours_daily_total"] == "3000.00"


def test_a_check_stamped_a_moment_after_ours_still_counts():
    # A check takes its time before it waits for the card's lock, so one that got
    # the lock first may carry a later timestamp than ours: it must count, or a
    # burst of checks could allow one more than the maximum.
    now = timezone.now()
    fraud_check_create(email="x@example.com", amount=Decimal("40"), now=now + timedelta(milliseconds=5))
    result = fraud_check_create(email="x@example.com", amount=Decimal("1"), now=now)
    assert result.observed["ours_recent_count"] == 1
    assert result.observed["ours_daily_total"] == "40.00"


@pytest.mark.django_db(transaction=True)
def test_checks_keep_working_on_a_new_database_connection():
    # On PostgreSQL the counting query is prepared once per connection.
    first = fraud_check_create(email="c@example.com", amount=Decimal("1"))
    connection.close()
    second = fraud_check_create(email="c@example.com", amount=Decimal("1"))
    assert (first.observed["ours_recent_count"], second.observed["ours_recent_count"]) == (0, 1)


def test_the_caller_counts_are_used_when_larger(api):
    answer = check(api, recent_count=2, daily_total="9995.00").json()
    assert answer["reason"] == "daily_limit_exceeded_10005.00"
    assert answer["observed"]["recent_count"] == 2


def test_the_same_payment_id_returns_the_stored_decision_and_counts_once(api):
    first = check(api, payment_id="pi_42", amount="6000.00").json()
    again = check(api, payment_id="pi_42", amount="1.00").json()
    assert again["check_id"] == first["check_id"] and again["decision"] == "review"
    assert FraudCheck.objects.count() == 1


def test_a_check_is_linked_to_its_payment(api):
    payment = make_payment("pi_7", email="buyer@example.com", amount=Decimal("10.00"))
    check(api, payment_id="pi_7")
    assert FraudCheck.objects.get().payment == payment


def test_a_review_decision_opens_a_review(api):
    answer = check(api, amount="6000.00").json()
    assert answer["review"]["state"] == "open" and answer["review"]["opened_reason"] == "rule"
    assert FraudReview.objects.get().fraud_check.check_id == answer["check_id"]


def test_list_entries_allow_and_block_by_email_domain_and_card(api):
    ListEntry.objects.create(action="block", kind="domain", value="Evil.example", reason="chargebacks")
    ListEntry.objects.create(action="block", kind="card", value="badcard", reason="stolen")
    ListEntry.objects.create(action="allow", kind="email", value="friend@evil.example", reason="known customer")
    ListEntry.objects.create(
        action="block",
        kind="email",
        value="gone@example.com",
        reason="old",
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    assert check(api, email="x@evil.example").json()["reason"] == "blocklisted_domain"
    assert check(api, card_fingerprint="BADCARD").json()["reason"] == "blocklisted_card"
    assert check(api, email="friend@evil.example").json()["reason"] == "allowlisted"
    assert check(api, email="gone@example.com").json()["decision"] == "allow"


def test_the_env_allowlist_is_case_insensitive(api, settings):
    settings.GUARD_EMAIL_ALLOW = ["vip@example.com"]
    assert check(api, email=" VIP@Example.com ", amount="50000.00").json()["reason"] == "allowlisted"


def test_each_check_is_one_audit_line_without_card_data(api, read_audit, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        answer = check(api, card_fingerprint="fp-secret-ish").json()
    [line] = read_audit("fraud_guard")
    assert line["event"] == "fraud_check" and line["check_id"] == answer["check_id"]
    assert line["decision"] == "allow" and line["reason"] == "all_checks_passed" and line["rule"] == "default"
    assert "fp-secret-ish" not in str(line)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "10.00"}, "email"),
        ({"email": "not-an-email", "amount": "10"}, "email"),
        ({"email": "a@example.com"}, "amount"),
        ({"email": "a@example.com", "amount": "0"}, "amount"),
        ({"email": "a@example.com", "amount": "-5"}, "amount"),
        ({"email": "a@example.com", "amount": "ten"}, "amount"),
        ({"email": "a@example.com", "amount": "NaN"}, "amount"),
        ({"email": "a@example.com", "amount": "Infinity"}, "amount"),
        ({"email": "a@example.com", "amount": "10.001"}, "amount"),
        ({"email": "a@example.com", "amount": "1e30"}, "amount"),
        ({"email": "a@example.com", "amount": "10", "recent_count": -1}, "recent_count"),
        ({"email": "a@example.com", "amount": "10", "daily_total": "-1"}, "daily_total"),
        ({"email": "a@example.com", "amount": "10", "currency": "US$"}, "currency"),
        ({"email": "a@example.com", "amount": "10", "currency": "dollars"}, "currency"),
        ({"email": "a@example.com", "amount": "10", "card_type": "gold"}, "card_type"),
        ({"email": "a@example.com", "amount": "10", "currency": "xyz"}, "currency"),
        ({"email": "a@example.com", "amount": "10", "currency": "xts"}, "currency"),
        ({"email": "a@example.com", "amount": "10", "currency": 840}, "currency"),
        ({"email": "a@example.com", "amount": "1000000.00"}, "amount"),
        ({"email": "a@example.com", "amount": "100000.00", "currency": "kwd"}, "amount"),
        ({"email": "a@example.com", "amount": "100000000", "currency": "jpy"}, "amount"),
        ({"email": "a@example.com", "amount": "10.50", "currency": "jpy"}, "amount"),
        ({"email": "a@example.com", "amount": 10**400}, "amount"),
        ({"email": "a@example.com", "amount": "10", "daily_total": "100000000.01"}, "daily_total"),
    ],
)
def test_invalid_input_is_a_400_naming_the_field_and_stores_nothing(api, body, field):
    response = api.post("/api/fraud/check", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not FraudCheck.objects.exists()


def test_a_json_number_amount_never_becomes_a_float(api):
    response = api.post(
        "/api/fraud/check", '{"email": "a@example.com", "amount": 0.1}', content_type="application/json"
    )
    assert response.json()["amount"] == "0.10"
    assert FraudCheck.objects.get().amount == Decimal("0.10")


def test_a_check_can_be_read_back(api):
    check_id = check(api).json()["check_id"]
    answer = api.get(f"/api/fraud/checks/{check_id}").json()
    assert answer["check_id"] == check_id and answer["decision"] == "allow"
    assert api.get("/api/fraud/checks/fc_missing").status_code == 404


@pytest.mark.parametrize("path", ["/api/fraud/checks/fc_missing", "/api/fraud/checks/fc_missing/review"])
def test_an_unknown_check_is_not_found_like_any_other_row(api, path):
    response = api.get(path) if path.endswith("missing") else api.post(path, {"action": "open"}, format="json")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": "not_found", "message": "No fraud check has this id."}


def test_the_answer_has_exactly_the_documented_shape(api):
    """check_to_dict (the fast path) and CheckOutput (the OpenAPI schema) must never drift apart."""
    from fraud.serializers import CheckOutput, check_to_dict

    check(api, amount="10.00", payment_id="pi_shape")
    check(api, amount="6000.00")  # with a review
    check(api, recent_count=9)  # blocked
    for stored in FraudCheck.objects.select_related("review"):
        assert check_to_dict(stored) == CheckOutput(stored).data
    review = FraudReview.objects.get()
    review.closed_at = timezone.now()
    review.save()
    stored = FraudCheck.objects.select_related("review").get(pk=review.fraud_check_id)
    assert check_to_dict(stored) == CheckOutput(stored).data


def test_the_hot_path_answers_what_the_serializer_answers(api):
    """POST /api/fraud/check answers with check_to_dict, GET with CheckOutput: the same JSON for the same check."""
    for body in ({"payment_id": "pi_wire"}, {"amount": "6000.00"}, {"recent_count": 9}):
        posted = check(api, **body).json()
        assert posted == api.get(f"/api/fraud/checks/{posted['check_id']}").json()


def test_the_command_refuses_bad_input_in_the_api_error_shape():
    import json

    from django.core.management import CommandError

    with pytest.raises(CommandError) as error:
        call_command("fraud_check", "--email", "nope", "--amount", "-1")
    body = json.loads(str(error.value))
    assert body["error"] == "validation_error" and set(body["fields"]) == {"email", "amount"}
    assert not FraudCheck.objects.exists()


@pytest.mark.parametrize(
    ("amount", "currency"), [("999999.99", "usd"), ("99999999", "jpy"), ("99999.99", "kwd"), ("0.01", "EUR")]
)
def test_the_largest_amount_of_each_currency_is_checked(api, settings, amount, currency):
    settings.GUARD_MAX_AMOUNT_DAY = Decimal("100000000")
    response = check(api, amount=amount, currency=currency)
    assert response.status_code == 200, response.json()
    assert FraudCheck.objects.get().currency == currency.lower()


def test_the_command_refuses_an_unknown_currency():
    import json

    from django.core.management import CommandError

    with pytest.raises(CommandError) as error:
        call_command("fraud_check", "--email", "a@example.com", "--amount", "10", "--currency", "xyz")
    assert set(json.loads(str(error.value))["fields"]) == {"currency"}
    assert not FraudCheck.objects.exists()
