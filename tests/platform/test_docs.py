"""OpenAPI schema and Swagger UI: open to API keys and to staff who may read them, closed to everyone else."""

import re

import pytest
from django.contrib.auth.models import User

from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_the_schema_is_served_to_an_api_key(api):
    response = api.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["components"]["securitySchemes"]["DashKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Dash-Key",
    }
    whoami = schema["paths"]["/api/whoami"]["get"]
    assert {"DashKey": []} in whoami["security"]
    assert whoami["responses"]["401"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")


def test_the_schema_documents_the_error_shape(api):
    error = api.get("/api/schema/?format=json").json()["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"ok", "error", "message", "fields"}
    assert set(error["required"]) == {"error", "message"}


def test_docs_refuse_anonymous_callers(anon):
    for path in ("/api/schema/", "/api/docs/"):
        assert anon.get(path).status_code == 401


def docs_reader(username="staff"):
    return make_user(username, password="pw", permissions=["echopilot.view_api_docs"])


def test_docs_work_for_a_logged_in_staff_user_with_the_docs_permission(client):
    client.force_login(docs_reader())
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    # Swagger UI comes from our own static files: nothing is loaded from the internet.
    assert "swagger-ui-bundle" in html
    assert not re.search(r"""(src|href)=["']https?://""", html)
    assert client.get("/api/schema/").status_code == 200


def test_docs_refuse_a_logged_in_user_who_is_not_staff(client):
    client.force_login(make_user("customer", password="pw", is_staff=False))
    assert client.get("/api/docs/").status_code == 403
    assert client.get("/api/schema/").status_code == 403


def test_docs_refuse_a_staff_user_without_the_docs_permission(client):
    client.force_login(make_user("staff", password="pw"))
    assert client.get("/api/docs/").status_code == 403
    assert client.get("/api/schema/").status_code == 403


def test_the_docs_permission_without_staff_status_opens_nothing(client):
    user = docs_reader()
    User.objects.filter(pk=user.pk).update(is_staff=False)
    client.force_login(user)
    assert client.get("/api/docs/").status_code == 403


def test_a_staff_session_does_not_open_the_rest_of_the_api(client):
    client.force_login(docs_reader())
    assert client.get("/api/whoami").status_code == 401


def test_the_webhook_is_documented_without_the_key(api):
    webhook = api.get("/api/schema/?format=json").json()["paths"]["/api/webhooks/stripe"]["post"]
    assert "401" not in webhook["responses"]
    assert {"DashKey": []} not in webhook.get("security", [])


def test_documented_decimal_patterns_accept_exactly_what_the_api_answers(api):
    """Signed decimals as drf-spectacular documents them, with digits required (tighten_decimal_patterns).

    Input amounts have their own patterns (positive, per currency): tests/fuzz/test_schema_rules.py.
    """
    import json
    import re

    patterns = set(re.findall(r'"pattern": "([^"]*)"', json.dumps(api.get("/api/schema/?format=json").json())))
    decimal_patterns = {json.loads(f'"{p}"') for p in patterns if p.startswith("^-?\\\\d")}
    assert decimal_patterns, "the schema documents decimal amounts"
    for pattern in decimal_patterns:
        for refused in ("", "-", ".", "1.", ".5", "1.234"):
            assert not re.fullmatch(pattern, refused), (pattern, refused)
        for accepted in ("0", "12.5", "12.50", "-3.20"):
            assert re.fullmatch(pattern, accepted), (pattern, accepted)


def test_every_success_answer_documents_its_ok(api):
    """Every 2xx answer is an output serializer's, with "ok" required (echopilot.serializers.OutputSerializer)."""
    schema = api.get("/api/schema/?format=json").json()
    components = schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith("2"):
                    name = response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
                    assert "ok" in components[name]["required"], (method, path, status, name)
