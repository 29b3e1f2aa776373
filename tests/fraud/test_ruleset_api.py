"""GET /api/fraud/rulesets[/<version>], POST /api/fraud/backtest and GET /api/fraud/backtest/<job_id> (#15 item 6)."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from fraud import rulesets
from fraud.models import BacktestRun, RuleSet
from fraud.rules import RuleConfig
from fraud.rulesets import backtest_job_create, ruleset_activate, ruleset_draft, ruleset_shadow_start
from fraud.services import fraud_check_create, fraud_review_act
from tests.factories import make_api_key

pytestmark = pytest.mark.django_db

BACKTEST = "/api/fraud/backtest"


def check(amount="150.00", **fields):
    return fraud_check_create(email="buyer@example.com", amount=Decimal(amount), card_fingerprint="fp1", **fields)


def backtested(ruleset):
    backtest_job_create(rules=rulesets.ruleset_config(ruleset), since=timezone.now() - timedelta(days=1), by="ann",
                        ruleset=ruleset)  # fmt: skip
    return ruleset


def backtest(api, body):
    return api.post(BACKTEST, body, format="json")


def raw(api, text):
    return api.post(BACKTEST, data=text, content_type="application/json")


def refused(response, field):
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == "validation_error" and field in body["fields"], body
    return body["fields"][field]


# --- Listing and detail -----------------------------------------------------------------------------------


def test_a_fresh_install_lists_only_version_1_the_settings_in_force(api, settings):
    settings.GUARD_REVIEW_AMOUNT = Decimal("5000")
    body = api.get("/api/fraud/rulesets").json()
    assert (body["ok"], body["count"], body["next"]) == (True, 1, None)
    [v1] = body["results"]
    assert (v1["version"], v1["source"], v1["state"], v1["shadow"]) == (1, "settings", "active", False)
    assert v1["label"] == RuleConfig.from_settings().version and v1["label"].startswith("v1-")
    assert v1["rules"] == RuleConfig.from_settings().as_dict() and v1["rules"]["review_amount"] == "5000.00"
    assert v1["created_at"] is None


def test_the_list_is_newest_first_with_each_state_and_version_1_last_as_the_fallback(api, settings):
    retired = ruleset_activate(ruleset=backtested(ruleset_draft(note="first", by="ann")), by="ann")
    active = ruleset_activate(ruleset=backtested(ruleset_draft(note="second", by="bob", max_per_hour=9)), by="bob")
    settings.GUARD_RULESET_APPROVAL = True
    pending = ruleset_activate(ruleset=backtested(ruleset_draft(note="third", by="ann")), by="ann")
    shadow = ruleset_shadow_start(ruleset=ruleset_draft(note="fourth", by="cy", review_amount=Decimal("99.5")), by="cy")

    results = api.get("/api/fraud/rulesets").json()["results"]
    assert [(r["version"], r["state"], r["shadow"]) for r in results] == [
        (shadow.version, "draft", True),
        (pending.version, "pending", False),
        (active.version, "active", False),
        (retired.version, "retired", False),
        (1, "fallback", False),
    ]
    newest, pending_row, active_row = results[:3]
    assert (newest["label"], newest["source"], newest["note"], newest["created_by"]) == ("v5", "stored", "fourth", "cy")
    assert newest["rules"]["review_amount"] == "99.50" and newest["shadow_by"] == "cy" and newest["shadow_at"]
    assert (pending_row["requested_by"], pending_row["activated_at"]) == ("ann", None)
    assert (active_row["activated_by"], active_row["rules"]["max_per_hour"]) == ("bob", 9)
    assert active_row["based_on"] == "v2"


def test_the_list_pages_with_version_1_on_the_last_page(api):
    for n in range(3):
        ruleset_draft(note=str(n), by="ann")
    first = api.get("/api/fraud/rulesets?page_size=2").json()
    assert first["count"] == 4 and [r["version"] for r in first["results"]] == [4, 3]
    last = api.get(first["next"]).json()
    assert [r["version"] for r in last["results"]] == [2, 1] and last["next"] is None
    assert api.get("/api/fraud/rulesets?page=9").status_code == 404
    assert refused(api.get("/api/fraud/rulesets?page_size=0"), "page_size")


def test_one_version_and_version_1_by_number(api):
    draft = ruleset_draft(note="Review above 100", by="ann", review_amount=Decimal("100"))
    body = api.get(f"/api/fraud/rulesets/{draft.version}").json()
    assert (body["ok"], body["ruleset"]["label"], body["ruleset"]["rules"]["review_amount"]) == (True, "v2", "100.00")
    assert api.get("/api/fraud/rulesets/1").json()["ruleset"]["source"] == "settings"


@pytest.mark.parametrize("version", [0, 3, 2**31, 10**30])
def test_an_unknown_version_is_a_404_in_the_error_shape(api, version):
    ruleset_draft(note="x", by="ann")
    response = api.get(f"/api/fraud/rulesets/{version}")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": "not_found", "message": response.json()["message"]}


# --- Backtests --------------------------------------------------------------------------------------------


def labelled_history():
    """A check reviewed and rejected as fraud, one approved by a reviewer (legitimate), one unlabelled."""
    fraud = check("6000.00")
    fraud_review_act(check=fraud, action="reject", resolution="fraud", by="rev")
    good = check("300.00", payment_id="pi_good")
    fraud_review_act(check=good, action="open", by="rev")
    fraud_review_act(check=good, action="approve", by="rev")
    check("150.00")


def test_a_small_backtest_is_done_at_once_with_its_labelled_figures(
    api, read_audit, django_capture_on_commit_callbacks
):
    labelled_history()
    with django_capture_on_commit_callbacks(execute=True):
        response = backtest(api, {"rules": {"review_amount": "100"}, "since": "2000-01-01T00:00:00Z"})
    assert response.status_code == 201, response.json()
    job = response.json()["job"]
    assert response["Location"] == f"/api/fraud/backtest/{job['job_id']}"
    assert (job["state"], job["checks"], job["version"], job["requested_by"]) == (
        "done",
        3,
        None,
        "key:DASHBOARD_KEY#1",
    )
    assert job["rules"]["review_amount"] == "100.00" and job["label"].startswith("v1-")
    assert job["label"] == job["report"]["ruleset"]["proposed"] != job["current_version"]
    report = job["report"]
    assert (report["checks"], report["changed"], report["table"]) == (3, 2, {"allow->review": 2, "review->review": 1})
    assert report["labels"] == {"fraud": 1, "legitimate": 1, "unlabelled": 1}
    current, proposed = report["current"], report["proposed"]
    assert (current["fraud_caught"], current["good_reviewed"], current["reviews"]) == (1, 0, 1)
    assert (proposed["fraud_caught"], proposed["good_reviewed"], proposed["reviews"]) == (1, 1, 3)
    assert (current["review_load"], proposed["review_load"]) == ("0.3333", "1.0000")
    assert proposed["rules"]["review_amount"] == {
        "flagged_fraud": 1,
        "flagged_legitimate": 1,
        "precision": "0.5000",
        "recall": "1.0000",
    }
    assert api.get(response["Location"]).json() == response.json()
    assert [line["by"] for line in read_audit("fraud_guard") if line["event"] == "backtest_requested"] == [
        "key:DASHBOARD_KEY#1"
    ]


def test_a_stored_version_is_backtested_as_itself_and_counts_for_its_activation(api):
    check()
    draft = ruleset_draft(note="Review above 100", by="ann", review_amount=Decimal("100"))
    job = backtest(api, {"version": draft.version}).json()["job"]
    assert (job["version"], job["label"], job["report"]["changed"]) == (2, "v2", 1)
    assert rulesets.ruleset_backtest_done(draft).job_id == job["job_id"]
    assert backtest(api, {"version": 1}).json()["job"]["report"]["changed"] == 0


def test_without_since_it_replays_the_past_30_days(api):
    job = backtest(api, {"rules": {}}).json()["job"]
    since = BacktestRun.objects.get(job_id=job["job_id"]).since
    assert timedelta(days=30) <= timezone.now() - since < timedelta(days=30, minutes=5)


def test_a_large_backtest_is_queued_then_run_by_the_task_and_polled_to_done(
    api, settings, django_capture_on_commit_callbacks
):
    check()
    settings.GUARD_BACKTEST_INLINE_CHECKS = 0
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = backtest(api, {"rules": {"review_amount": "100.00"}, "since": "2000-01-01T00:00:00Z"})
    assert response.status_code == 202
    job = response.json()["job"]
    assert (job["state"], job["report"], job["started_at"]) == ("queued", None, None)
    assert api.get(response["Location"]).json()["job"]["state"] == "queued"
    for callback in callbacks:
        callback()  # the task queue runs tasks synchronously in tests
    polled = api.get(response["Location"]).json()["job"]
    assert (polled["state"], polled["report"]["changed"], polled["error"]) == ("done", 1, "")
    assert polled["started_at"] and polled["finished_at"]


def test_a_failed_backtest_shows_its_error(api, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(rulesets, "fraud_backtest", broken)
    response = backtest(api, {"rules": {}})
    assert response.status_code == 201
    job = api.get(response["Location"]).json()["job"]
    assert (job["state"], job["error"], job["report"]) == ("failed", "RuntimeError: disk full", None)


def test_an_unknown_job_is_a_404(api):
    response = api.get("/api/fraud/backtest/bt_nope")
    assert (response.status_code, response.json()["error"]) == (404, "not_found")


# --- Fail closed ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/fraud/rulesets"), ("get", "/api/fraud/rulesets/1"), ("post", BACKTEST), ("get", f"{BACKTEST}/bt_x")],
)
def test_without_a_valid_key_nothing_is_shown_or_run(anon, method, path):
    for client in (anon, _with_key(anon, "not-a-key")):
        response = getattr(client, method)(path, {"rules": {}} if method == "post" else None, format="json")
        assert response.status_code == 401 and response.json()["ok"] is False
    assert not BacktestRun.objects.exists()


def _with_key(client, key):
    client.credentials(HTTP_X_DASH_KEY=key)
    return client


def test_a_named_api_key_is_the_requester(anon):
    _, raw_key = make_api_key(name="ops-bot")
    job = _with_key(anon, raw_key).post(BACKTEST, {"rules": {}}, format="json").json()["job"]
    assert job["requested_by"] == "key:ops-bot"


# --- Hostile input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ({"max_per_hour": 0}, "rules.max_per_hour"),
        ({"max_per_hour": 1_000_001}, "rules.max_per_hour"),
        ({"max_per_hour": 10**100}, "rules.max_per_hour"),
        ({"max_per_hour": "5"}, "rules.max_per_hour"),
        ({"max_per_hour": 5.5}, "rules.max_per_hour"),
        ({"max_per_hour": True}, "rules.max_per_hour"),
        ({"max_per_ip_hour": -1}, "rules.max_per_ip_hour"),
        ({"review_amount": "-1"}, "rules.review_amount"),
        ({"review_amount": "NaN"}, "rules.review_amount"),
        ({"review_amount": "Infinity"}, "rules.review_amount"),
        ({"review_amount": "1e3"}, "rules.review_amount"),
        ({"review_amount": " 100"}, "rules.review_amount"),
        ({"review_amount": "1.001"}, "rules.review_amount"),
        ({"max_amount_day": "10000000000"}, "rules.max_amount_day"),
        ({"max_amount_day": True}, "rules.max_amount_day"),
        ({"block_prepaid": "true"}, "rules.block_prepaid"),
        ({"block_prepaid": 1}, "rules.block_prepaid"),
        ({"email_allow": "a@example.com"}, "rules.email_allow"),
        ({"email_allow": ["not-an-email"]}, "rules.email_allow.0"),
        ({"email_allow": ["a\x01@example.com"]}, "rules.email_allow.0"),
        ({"email_allow": ['"a\x07b"@example.com']}, "rules.email_allow.0"),
        ({"email_allow": [" a@example.com"]}, "rules.email_allow.0"),
        ({"email_allow": [[["a@example.com"]]]}, "rules.email_allow.0"),
        ({"email_allow": [f"u{n}@example.com" for n in range(10_000)]}, "rules.email_allow"),
        ({"dot_domains": ["gmail.com\n"]}, "rules.dot_domains.0"),
        ({"dot_domains": ["gmail.com\x00"]}, "rules.dot_domains.0"),
        ({"dot_domains": ["-gmail.com"]}, "rules.dot_domains.0"),
        ({"dot_domains": ["localhost"]}, "rules.dot_domains.0"),
        ({"dot_domains": [5]}, "rules.dot_domains.0"),
        ({"dot_domains": ["example.com"] * 101}, "rules.dot_domains"),
        ({"max_per_huor": 3}, "rules.max_per_huor"),
        ({"nested": {"deeper": {"deepest": [1]}}}, "rules.nested"),
    ],
)
def test_hostile_rules_are_refused_naming_the_field(api, rules, field):
    refused(backtest(api, {"rules": rules}), field)
    assert not BacktestRun.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rules": {}, "version": 2}, "version"),
        ({}, "rules"),
        ({"since": "2026-01-01T00:00:00Z"}, "rules"),
        ({"rules": {}, "since": "2999-01-01T00:00:00Z"}, "since"),
        ({"rules": {}, "since": "yesterday"}, "since"),
        ({"rules": None}, "rules"),
        ({"rules": []}, "rules.non_field_errors"),
        ({"version": "2"}, "version"),
        ({"version": 0}, "version"),
        ({"version": 2**31}, "version"),
        ({"version": 7}, "version"),
        ({"rules": {}, "extra": 1}, "extra"),
    ],
)
def test_hostile_bodies_are_refused_naming_the_field(api, body, field):
    reasons = refused(backtest(api, body), field)
    if body.get("version") == 7:
        assert reasons == ["No rule set has version 7."]
    assert not BacktestRun.objects.exists()


def test_the_future_is_refused_but_a_since_before_utcs_calendar_is_the_beginning(api):
    assert refused(backtest(api, {"rules": {}, "since": "2999-01-01T00:00:00Z"}), "since") == [
        "Must not be in the future."
    ]
    assert backtest(api, {"rules": {}, "since": "0001-01-01T00:00:00+01:00"}).status_code == 201


@pytest.mark.parametrize(
    "text",
    [
        '{"rules": {"review_amount": 1e400}}',
        '{"rules": {"max_per_hour": 1e400}}',
        '{"rules": {"review_amount": NaN}}',
        '{"rules": {"review_amount": Infinity}}',
        '{"rules": {"max_per_hour": ' + "9" * 5000 + "}}",
        '{"rules": ' + "[" * 100 + "]" * 100 + "}",
    ],
)
def test_numbers_json_cannot_hold_and_deep_nesting_are_refused(api, text):
    response = raw(api, text)
    assert response.status_code == 400 and response.json()["error"] in ("validation_error", "malformed_request")
    assert not BacktestRun.objects.exists()


def test_the_largest_allowed_values_are_accepted_and_stored_exactly(api):
    rules = {
        "block_prepaid": True,
        "max_per_hour": 1_000_000,
        "max_amount_day": "9999999999.99",
        "review_amount": 0,
        "email_allow": ["VIP@Example.com"] + [f"u{n}@example.com" for n in range(999)],
        "max_declines_per_card_hour": 0,
        "dot_domains": ["GMAIL.com"] + [f"d{n}.example" for n in range(99)],
    }
    response = backtest(api, {"rules": rules})
    assert response.status_code == 201, response.json()
    stored = response.json()["job"]["rules"]
    assert (stored["max_amount_day"], stored["review_amount"], stored["max_per_hour"]) == (
        "9999999999.99",
        "0.00",
        10**6,
    )
    assert "vip@example.com" in stored["email_allow"] and "gmail.com" in stored["dot_domains"]
    assert len(stored["email_allow"]) == 1000


def test_a_decimal_sent_as_a_json_number_is_exact(api):
    job = raw(api, json.dumps({"rules": {"review_amount": 0.1}})).json()["job"]
    assert job["rules"]["review_amount"] == "0.10"


# --- The schema -------------------------------------------------------------------------------------------


def test_the_schema_documents_the_operations(api):
    schema = api.get("/api/schema/?format=json").json()
    operations = {
        operation["operationId"]: (path, method, operation)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    }
    assert operations["fraud_rulesets"][:2] == ("/api/fraud/rulesets", "get")
    assert operations["fraud_ruleset"][:2] == ("/api/fraud/rulesets/{version}", "get")
    assert operations["fraud_backtest"][:2] == ("/api/fraud/backtest", "post")
    assert operations["fraud_backtest_job"][:2] == ("/api/fraud/backtest/{job_id}", "get")
    backtest_op = operations["fraud_backtest"][2]
    assert {"201", "202", "400", "401"} <= set(backtest_op["responses"])
    assert backtest_op["requestBody"]["content"]["application/json"]["examples"]
    body = schema["components"]["schemas"]["BacktestInputRequest"]
    assert body["additionalProperties"] is False and body["oneOf"]
    assert schema["components"]["schemas"]["RulesInputRequest"]["additionalProperties"] is False
    assert RuleSet.objects.count() == 0
