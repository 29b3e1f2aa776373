"""The schema states the API's rules: a request on a rule's edge is valid by the schema exactly when the API takes it.

The fuzzers explore at random; these cases pin the edges (amount bounds and decimals per currency, text
that is blank or not text, a rejection without a resolution, ...), so a rule changed on one side only
fails here by name. The schema's verdict comes from jsonschema on the published schema (OpenAPI's
``nullable`` read as JSON Schema), the API's is "anything but 400".
"""

import json

import jsonschema
import pytest

from fraud.models import FraudCheck

pytestmark = pytest.mark.django_db

EMAIL = {"to": "ada@example.com", "subject": "Hello", "body": "It works."}
CHECK = {"email": "ada@example.com", "amount": "5"}

CASES = [
    # POST /api/fraud/check: the amount's bound and decimals follow the currency (usd when none is given).
    ("/api/fraud/check", {**CHECK, "amount": "0"}, False),
    ("/api/fraud/check", {**CHECK, "amount": "0.00"}, False),
    ("/api/fraud/check", {**CHECK, "amount": "-1"}, False),
    ("/api/fraud/check", {**CHECK, "amount": "0.01"}, True),
    ("/api/fraud/check", {**CHECK, "amount": "1.234"}, False),
    ("/api/fraud/check", {**CHECK, "amount": "999999.99"}, True),
    ("/api/fraud/check", {**CHECK, "amount": "1000000"}, False),
    ("/api/fraud/check", {**CHECK, "amount": "1000000", "currency": "jpy"}, True),
    ("/api/fraud/check", {**CHECK, "amount": "99999999", "currency": "jpy"}, True),
    ("/api/fraud/check", {**CHECK, "amount": "0.5", "currency": "jpy"}, False),
    ("/api/fraud/check", {**CHECK, "amount": "99999.99", "currency": "kwd"}, True),
    ("/api/fraud/check", {**CHECK, "amount": "100000", "currency": "kwd"}, False),
    ("/api/fraud/check", {**CHECK, "amount": 12.5}, True),
    ("/api/fraud/check", {**CHECK, "amount": 0.001}, False),
    ("/api/fraud/check", {**CHECK, "currency": "abc"}, False),
    ("/api/fraud/check", {**CHECK, "card_fingerprint": "fp 1"}, False),
    ("/api/fraud/check", {**CHECK, "card_fingerprint": "fp_1-a"}, True),
    ("/api/fraud/check", {**CHECK, "daily_total": ""}, True),
    ("/api/fraud/check", {**CHECK, "daily_total": "100000000.01"}, False),
    ("/api/fraud/check", {**CHECK, "payment_id": " "}, False),
    ("/api/fraud/check", {**CHECK, "payment_id": 12}, False),  # a number is not text
    ("/api/fraud/check", {**CHECK, "recent_count": "3"}, False),  # nor text a number
    # POST /api/email/send: addresses, one header line of subject, text that is not blank.
    ("/api/email/send", {**EMAIL, "to": "0"}, False),
    ("/api/email/send", {**EMAIL, "to": ["ada@example.com", "bob@example.com"]}, True),
    ("/api/email/send", {**EMAIL, "to": []}, False),
    ("/api/email/send", {**EMAIL, "subject": " "}, False),
    ("/api/email/send", {**EMAIL, "subject": "a\tb"}, False),
    ("/api/email/send", {**EMAIL, "subject": "a\u2028b"}, False),
    ("/api/email/send", {**EMAIL, "subject": "Grüße \u200d"}, True),
    ("/api/email/send", {**EMAIL, "subject": 5}, False),
    ("/api/email/send", {**EMAIL, "body": " \n"}, False),
    ("/api/email/send", {**EMAIL, "html": "a\x00b"}, False),
    # POST /api/fraud/checks/{check_id}/review: a rejection needs a resolution.
    ("/api/fraud/checks/{check_id}/review", {"action": "reject"}, False),
    ("/api/fraud/checks/{check_id}/review", {"action": "reject", "resolution": "fraud"}, True),
    ("/api/fraud/checks/{check_id}/review", {"action": "open", "note": 5}, False),
    ("/api/fraud/checks/{check_id}/review", {"action": "open"}, True),
    # POST /api/fraud/backtest: exactly one of rules and version, no unknown field, each rule within its bounds.
    ("/api/fraud/backtest", {"version": 1}, True),
    ("/api/fraud/backtest", {"rules": {}, "version": 1}, False),
    ("/api/fraud/backtest", {}, False),
    ("/api/fraud/backtest", {"rules": {"max_per_huor": 3}}, False),
    ("/api/fraud/backtest", {"rules": {"max_per_hour": 0}}, False),
    ("/api/fraud/backtest", {"rules": {"max_per_hour": 1, "max_per_ip_hour": 0}}, True),
    ("/api/fraud/backtest", {"rules": {"max_per_ip_hour": 1_000_001}}, False),
    ("/api/fraud/backtest", {"rules": {"review_amount": "9999999999.99"}}, True),
    ("/api/fraud/backtest", {"rules": {"review_amount": "10000000000"}}, False),
    ("/api/fraud/backtest", {"rules": {"review_amount": " 1"}}, False),
    ("/api/fraud/backtest", {"rules": {"review_amount": "1e3"}}, False),
    ("/api/fraud/backtest", {"rules": {"review_amount": 12.5}}, True),
    ("/api/fraud/backtest", {"rules": {"block_prepaid": "true"}}, False),
    ("/api/fraud/backtest", {"rules": {"dot_domains": ["GMail.com"]}}, True),
    ("/api/fraud/backtest", {"rules": {"dot_domains": ["gmail .com"]}}, False),
    ("/api/fraud/backtest", {"rules": {"email_allow": ["a@example.com"] * 1001}}, False),
    # POST /api/portal/link and /api/portal/revoke.
    ("/api/portal/link", {"email": "ada@example.com", "expiry_hours": 168}, True),
    ("/api/portal/link", {"email": "ada@example.com", "expiry_hours": 169}, False),
    ("/api/portal/link", {"email": "ada@example.com", "expiry_hours": "24"}, False),
    ("/api/portal/revoke", {}, False),
    ("/api/portal/revoke", {"email": "ada@example.com", "link_id": "pl_1"}, False),
    ("/api/portal/revoke", {"link_id": "pl_1"}, True),
]


def as_json_schema(node):
    """OpenAPI 3.0's ``nullable: true`` as JSON Schema's null type."""
    if isinstance(node, list):
        return [as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: as_json_schema(value) for key, value in node.items()}
    if node.pop("nullable", False):
        node = {**node, "type": [node["type"], "null"]} if "type" in node else {"anyOf": [{"type": "null"}, node]}
    return node


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from rest_framework.test import APIClient

    from tests.constants import DASH_KEY

    client = APIClient()
    client.credentials(HTTP_X_DASH_KEY=DASH_KEY)
    with django_db_blocker.unblock():
        return as_json_schema(client.get("/api/schema/?format=json").json())


def valid_by_schema(schema, path, body) -> bool:
    request = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    validator = jsonschema.Draft7Validator(
        {**schema, **request}, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    return validator.is_valid(body)


@pytest.mark.parametrize(("path", "body", "valid"), CASES, ids=[f"{p} {json.dumps(b)}" for p, b, _ in CASES])
def test_the_schema_and_the_api_agree(api, schema, path, body, valid):
    assert valid_by_schema(schema, path, body) is valid, "the schema's verdict"
    if "{check_id}" in path:
        check_id = api.post("/api/fraud/check", CHECK, format="json").json()["check_id"]
        assert FraudCheck.objects.filter(check_id=check_id).exists()
        path = path.replace("{check_id}", check_id)
    response = api.post(path, body, format="json")
    assert (response.status_code != 400) is valid, ("the API's verdict", response.status_code, response.json())
    if not valid:
        assert response.json()["error"] == "validation_error"


def test_every_request_body_is_required(api, schema):
    """A POST without a body is refused by every operation, and the schema says so."""
    for path, operations in schema["paths"].items():
        if "requestBody" in operations.get("post", {}):
            assert operations["post"]["requestBody"].get("required") is True, path
    assert api.post("/api/portal/revoke").status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/api/payments?since=0001-01-01T00:00:00%2B01:00",
        "/api/payments?until=9999-12-31T23:59:59-01:00",
        "/api/observability/snapshots?since=0001-01-01T00:00:00%2B01:00",
    ],
)
def test_a_range_bound_outside_utcs_calendar_is_its_first_or_last_moment(api, url):
    """Schema-valid date-times that UTC cannot hold were a 400 "Datetime value out of range"."""
    response = api.get(url)
    assert response.status_code == 200, response.json()
