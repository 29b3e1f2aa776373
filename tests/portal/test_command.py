"""manage.py portal_link: the quick way to a link."""

import io

import pytest
from django.core.management import CommandError, call_command

from portal.models import PortalLink
from tests.fixtures.portal import path_of

pytestmark = pytest.mark.django_db


def test_it_prints_a_link_that_opens_the_portal(client, settings):
    out = io.StringIO()
    call_command("portal_link", "--email", "Ann@Example.com", "--hours", "2", stdout=out)
    url = out.getvalue().strip()
    assert url.startswith(f"{settings.PUBLIC_BASE_URL}/portal?e=ann%40example.com&exp=")
    link = PortalLink.objects.get()
    assert link.created_by == "command:portal_link"
    assert 7190 < (link.expires_at - link.created_at).total_seconds() <= 7200
    assert client.get(path_of(url)).status_code == 302


@pytest.mark.parametrize("args", [["--email", "nope"], ["--email", "a@example.com", "--hours", "0"]])
def test_it_refuses_bad_input(args):
    with pytest.raises(CommandError, match="validation_error"):
        call_command("portal_link", *args)
    assert PortalLink.objects.count() == 0
