"""The signature of a link never reaches a log line, an audit line, the database or the session."""

import logging

import pytest
from django.db import connection

from portal.models import PortalLink
from tests.fixtures.portal import path_of, portal_session

pytestmark = pytest.mark.django_db


def test_a_whole_portal_flow_logs_no_signature(api, client, caplog, log_dir, django_capture_on_commit_callbacks):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django")  # Django's default config holds it at INFO
    connection.force_debug_cursor = True  # every SQL statement with its parameters goes to the log too
    try:
        with django_capture_on_commit_callbacks(execute=True):
            url = api.post("/api/portal/link", {"email": "ann@example.com"}, format="json").json()["url"]
            path = path_of(url)
            assert client.get(path).status_code == 302
            assert client.get("/portal/").status_code == 200
            assert client.get(path.replace("exp=", "exp=1")).status_code == 403
            link_id = PortalLink.objects.get().public_id
            api.post("/api/portal/revoke", {"link_id": link_id}, format="json")
            assert client.get(path).status_code == 403
    finally:
        connection.force_debug_cursor = False
    sig = url.rsplit("sig=", 1)[1]
    assert len(sig) > 40
    assert "django_session" in caplog.text and link_id in caplog.text  # the capture did see the flow
    assert sig not in caplog.text
    audit = "".join(path.read_text() for path in log_dir.glob("*.ndjson"))
    assert link_id in audit and sig not in audit
    assert sig not in str(dict(portal_session(client).items()))
