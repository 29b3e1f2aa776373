"""One error shape for every failure of the API."""

import json

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.platform.urls")]


def assert_error_shape(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert body["ok"] is False
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    return body


def test_it_accepts_valid_json(api):
    response = api.post("/api/test/echo", {"name": "ann", "amount": "1.50"}, format="json")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "name": "ann"}


def test_it_names_the_invalid_fields(api):
    response = api.post("/api/test/echo", {"amount": "1.999"}, format="json")
    body = assert_error_shape(response, 400, "validation_error")
    assert set(body["fields"]) == {"name", "amount"}
    assert all(isinstance(reason, str) for reasons in body["fields"].values() for reason in reasons)


def test_it_rejects_malformed_json(api):
    response = api.post("/api/test/echo", '{"name": "ann",', content_type="application/json")
    body = assert_error_shape(response, 400, "malformed_request")
    assert "fields" not in body


def test_it_rejects_nan_in_json(api):
    response = api.post("/api/test/echo", '{"name": "ann", "amount": NaN}', content_type="application/json")
    assert_error_shape(response, 400, "malformed_request")


@pytest.mark.parametrize("depth", [1000, 100_000])
@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_it_rejects_json_nested_too_deeply(api, depth, opening):
    closing = "]" if opening == "[" else "}"
    body = '{"name": "ann", "amount": "1", "x": ' + opening * depth + "1" + closing * depth + "}"
    response = api.post("/api/test/echo", body, content_type="application/json")
    body = assert_error_shape(response, 400, "malformed_request")
    assert "nested deeper than 64 levels" in body["message"]


@pytest.mark.urls("echopilot.urls")
@pytest.mark.parametrize("path", ["/api/fraud/check", "/api/email/send", "/api/portal/link", "/api/portal/revoke"])
def test_every_json_endpoint_rejects_deep_nesting(api, path):
    response = api.post(path, "[" * 1000 + "]" * 1000, content_type="application/json")
    assert_error_shape(response, 400, "malformed_request")


def test_it_accepts_json_nested_up_to_the_limit(api):
    from echopilot.parsers import MAX_JSON_DEPTH

    nested = "[" * (MAX_JSON_DEPTH - 1) + "1" + "]" * (MAX_JSON_DEPTH - 1)
    response = api.post(
        "/api/test/echo",
        '{"name": "ann", "amount": "1", "x": ' + nested + "}",
        format=None,
        content_type="application/json",
    )
    assert response.status_code == 200
    response = api.post(
        "/api/test/echo", '{"name": "ann", "amount": "1", "x": [' + nested + "]}", content_type="application/json"
    )
    assert_error_shape(response, 400, "malformed_request")


def test_the_depth_limit_is_not_fooled_by_brackets_in_strings():
    from echopilot.parsers import json_loads

    assert json_loads('{"a": "' + "[" * 500 + '"}') == {"a": "[" * 500}
    assert json_loads("[" + "[], " * 500 + "[]]") == [[]] * 501


def test_it_rejects_a_wrong_content_type(api):
    response = api.post("/api/test/echo", "name=ann&amount=1", content_type="application/x-www-form-urlencoded")
    assert_error_shape(response, 415, "unsupported_media_type")


def test_it_rejects_a_wrong_method(api):
    response = api.get("/api/test/echo")
    assert_error_shape(response, 405, "method_not_allowed")


def test_it_answers_unknown_api_routes_with_json_404(api):
    assert_error_shape(api.get("/api/no/such/route"), 404, "not_found")
    assert_error_shape(api.post("/api/no/such/route", {}, format="json"), 404, "not_found")


def test_it_rejects_a_declared_body_over_one_mib(api):
    body = json.dumps({"name": "x" * (1024 * 1024)})
    response = api.post("/api/test/echo", body, content_type="application/json")
    assert_error_shape(response, 413, "payload_too_large")


def test_the_json_parser_stops_at_one_mib_without_a_content_length():
    """Defence in depth for bodies whose size was not declared: the parser reads at most 1 MiB + 1 byte."""
    import io

    from echopilot.errors import PayloadTooLarge
    from echopilot.parsers import LimitedJSONParser

    parser = LimitedJSONParser()
    assert parser.parse(io.BytesIO(b'{"a": 1}')) == {"a": 1}
    with pytest.raises(PayloadTooLarge):
        parser.parse(io.BytesIO(b'{"a": "' + b"x" * (1024 * 1024) + b'"}'))


def test_it_rejects_a_non_numeric_content_length(api):
    response = api.generic("POST", "/api/test/echo", b"{}", content_type="application/json", CONTENT_LENGTH="abc")
    assert_error_shape(response, 400, "bad_request")


def test_an_unexpected_error_is_a_json_500_without_internals(api, caplog):
    response = api.get("/api/test/boom")
    body = assert_error_shape(response, 500, "server_error")
    assert "secret internals" not in json.dumps(body)
    assert "secret internals" in caplog.text  # but the operator sees it in the log


def test_a_database_outage_is_a_503_with_retry_after(api):
    response = api.get("/api/test/db-down")
    assert_error_shape(response, 503, "service_unavailable")
    assert response["Retry-After"] == "5"


def test_authentication_comes_before_validation(anon):
    response = anon.post("/api/test/echo", "{not json", content_type="application/json")
    assert_error_shape(response, 401, "not_authenticated")


@pytest.mark.urls("echopilot.urls")
@pytest.mark.parametrize(
    "path",
    ["/api/payments/pi%00", "/api/fraud/checks/fc%00", "/api/fraud/checks/fc%00/review", "/api/email/em%00"],
)
def test_an_id_with_a_nul_is_not_found_rather_than_a_database_error(api, path):
    # PostgreSQL refuses NUL in any query; the id converter keeps such paths from matching at all.
    response = api.get(path)
    assert response.status_code == 404 and response.json()["error"] == "not_found"


@pytest.mark.urls("echopilot.urls")
def test_a_portal_receipt_with_a_nul_is_not_found(client):
    assert client.get("/portal/receipts/pi%00/").status_code == 404


@pytest.mark.parametrize(
    "kind, status, body, retry_after",
    [
        ("base", 400, {"error": "bad_request", "message": "The request could not be processed."}, None),
        ("invalid", 400, {"error": "needs_a_reason", "message": "Say why.", "fields": {"reason": ["Required."]}}, None),
        ("unsupported", 415, {"error": "unsupported_media_type", "message": "Send JSON."}, None),
        ("not_found", 404, {"error": "not_found", "message": "No thing has this id."}, None),
        ("conflict", 409, {"error": "already_done", "message": "Already done."}, None),
        ("rate_limited", 429, {"error": "rate_limited", "message": "Slow down."}, "30"),
        (
            "unavailable",
            503,
            {"error": "service_unavailable", "message": "A backing service is unavailable; try again shortly."},
            "5",
        ),
        ("unavailable_no_wait", 503, {"error": "service_unavailable", "message": "Full for now."}, None),
        ("failed", 500, {"error": "processing_failed", "message": "It broke; send it again."}, None),
    ],
)
def test_each_kind_of_application_error_has_its_status_and_the_one_shape(api, kind, status, body, retry_after):
    response = api.get(f"/api/test/application-error/{kind}")
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"ok": False, **body}
    assert response.get("Retry-After") == retry_after


def test_an_application_error_knows_nothing_of_http():
    from echopilot import exceptions

    error = exceptions.RateLimited("Slow down.", retry_after=30)
    assert (error.code, error.message, error.fields, error.retry_after) == ("rate_limited", "Slow down.", None, 30)
    assert str(error) == "Slow down."
    assert not any(hasattr(error, name) for name in ("status_code", "headers", "detail"))


def test_get_or_not_found_is_the_row_or_not_found():
    from echopilot.exceptions import NotFound, get_or_not_found
    from echopilot.models import ApiKey

    key = ApiKey.objects.create(name="ci", prefix="ep_x", key_hash="h" * 64)
    assert get_or_not_found(ApiKey.objects, message="No key.", name="ci") == key
    with pytest.raises(NotFound) as missing:
        get_or_not_found(ApiKey.objects.filter(revoked_at__isnull=False), message="No key.", name="ci")
    assert (missing.value.code, missing.value.message) == ("not_found", "No key.")
