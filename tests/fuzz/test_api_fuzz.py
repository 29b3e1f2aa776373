"""Requests generated from the OpenAPI schema (schemathesis) against the real WSGI app.

Every documented operation is called with and without a valid ``X-Dash-Key``,
with data that fits the schema and data that does not. No answer may be a 5xx,
every answer must be documented (status code, content type, body), and every
4xx must carry the platform's error shape. ``FUZZ_EXAMPLES`` sets the examples
per operation and test (``make fuzz`` runs many more than CI).
"""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.specs.openapi import checks as openapi_checks

from echopilot.wsgi import application
from tests.constants import DASH_KEY

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))

# Every operation, with and without a key, FUZZ_EXAMPLES times: some 20 s of CPU with the default 15.
pytestmark = pytest.mark.slow

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application, headers={"X-Dash-Key": DASH_KEY})


@schemathesis.check
def platform_error_shape(ctx, response, case):
    """A 4xx answers ``{"ok": false, "error": str, "message": str}``, ``fields`` only as reasons per field."""
    if not 400 <= response.status_code < 500:
        return None
    body = response.json()
    assert isinstance(body, dict), f"error body is not an object: {body!r}"
    assert body.get("ok") is False, f"error body without ok=false: {body!r}"
    assert isinstance(body.get("error"), str) and body["error"], f"error body without a code: {body!r}"
    assert isinstance(body.get("message"), str) and body["message"], f"error body without a message: {body!r}"
    fields = body.get("fields")
    assert fields is None or (
        isinstance(fields, dict) and all(isinstance(reasons, list) for reasons in fields.values())
    ), f"fields is not reasons per field: {body!r}"
    assert set(body) <= {"ok", "error", "message", "fields"}, f"unexpected keys in error body: {body!r}"
    return True


CHECKS = [
    checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
    platform_error_shape,
]

fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@fuzz
def test_authenticated_requests_get_documented_answers(case):
    response = case.call(headers={"X-Dash-Key": DASH_KEY})
    case.validate_response(response, checks=CHECKS, headers={"X-Dash-Key": DASH_KEY})


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@fuzz
def test_unauthenticated_requests_get_documented_answers(case):
    case.headers = {name: value for name, value in (case.headers or {}).items() if name.lower() != "x-dash-key"}
    response = case.call()
    case.validate_response(response, checks=CHECKS)
    if case.operation.definition.raw.get("security"):
        assert response.status_code == 401, response.text
