"""No working portal link at rest: a receipt's link exists only in the message handed to SMTP.

After a receipt went out through the real webhook and a real SMTP server, the
delivered link opens the portal, but no database row, no NDJSON line, no log
record, no admin page and no API answer holds it (nor any other link).
"""

import logging
import re

import pytest
from django.contrib.admin.sites import site
from django.db import connection
from django.test import Client

from notifications.links import PORTAL_LINK_PLACEHOLDER
from notifications.models import Email
from payments.models import Payment, WebhookEvent
from portal.models import PortalLink
from tests.fixtures.portal import path_of
from tests.payments import stripe_events as se

pytestmark = pytest.mark.django_db(transaction=True)

LINK = re.compile(r"https?://[^\s\"<>]+/portal\?[^\s\"<>]+")
# Anything that would open the portal: a link's query, in any encoding the pages or logs use.
OPENS_THE_PORTAL = re.compile(r"(portal\?|[?&]|&amp;|\\u0026)sig=|/portal\?e=")


def database_text() -> str:
    """Every value of every row of every table, as text."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - names from the schema
            for row in cursor.fetchall():
                chunks.extend(
                    bytes(value).decode("latin-1") if isinstance(value, bytes | memoryview) else str(value)
                    for value in row
                )
    return "\n".join(chunks)


def admin_pages(admin_client) -> str:
    """The change list and every change page of every registered model that has rows."""
    pages = []
    for model in site._registry:
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        pages.append(admin_client.get(base).content.decode())
        for pk in model.objects.values_list("pk", flat=True)[:20]:
            pages.append(admin_client.get(f"{base}{pk}/change/").content.decode())
    return "\n".join(pages)


@pytest.mark.slow
def test_after_a_receipt_is_sent_nothing_at_rest_holds_a_link_that_opens_the_portal(
    deliver, smtp_server, admin_client, api, log_dir, caplog
):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django")
    connection.force_debug_cursor = True  # every SQL statement with its parameters reaches the log too
    try:
        assert deliver(se.succeeded()).status_code == 200
    finally:
        connection.force_debug_cursor = False
    [received] = smtp_server.messages
    text = received["message"].get_body(("plain",)).get_content()
    html = received["message"].get_body(("html",)).get_content()
    [url] = LINK.findall(text)
    sig = url.rsplit("sig=", 1)[1]
    assert len(sig) > 40 and sig in html
    assert OPENS_THE_PORTAL.search(text) and OPENS_THE_PORTAL.search(html)  # the pattern does find a link

    customer = Client()
    opened = customer.get(path_of(url))
    assert (opened.status_code, opened["Location"]) == (302, "/portal/")
    assert "pi_123" in customer.get("/portal/").content.decode()

    receipt = Email.objects.get()
    at_rest = {
        "database": database_text(),
        "ndjson": "".join(path.read_text() for path in log_dir.glob("*.ndjson")),
        "log records": "\n".join(
            record.getMessage() for record in caplog.records if not record.name.startswith("mail.log")
        ),
        "admin pages": admin_pages(admin_client),
        "email API": api.get(f"/api/email/{receipt.public_id}").content.decode(),
    }
    for where, content in at_rest.items():
        assert sig not in content, where
        assert not OPENS_THE_PORTAL.search(content), (where, OPENS_THE_PORTAL.search(content))
    # What was searched did see the receipt, its task and its link.
    assert receipt.public_id in at_rest["database"] and receipt.public_id in at_rest["ndjson"]
    assert "notifications.tasks.receipt_send" in at_rest["database"]
    assert PORTAL_LINK_PLACEHOLDER in at_rest["admin pages"] and receipt.public_id in at_rest["email API"]
    assert "receipt:pi_123" in at_rest["admin pages"] and "INSERT INTO" in at_rest["log records"]
    assert PortalLink.objects.get().public_id in at_rest["admin pages"]
    assert Payment.objects.exists() and WebhookEvent.objects.exists()
