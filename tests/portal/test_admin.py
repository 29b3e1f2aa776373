"""The PortalLink admin: read-only, filterable, searchable, with revoke actions."""

import pytest

from portal.models import PortalLink, PortalRevocation
from tests.constants import CUSTOMER

pytestmark = pytest.mark.django_db

URL = "/admin/portal/portallink/"


def test_the_list_filters_and_searches(admin_client, issue):
    link, _ = issue()
    issue("bob@example.com")
    assert admin_client.get(URL).status_code == 200
    found = admin_client.get(URL, {"q": link.public_id}).content.decode()
    assert link.public_id in found and "bob@example.com" not in found
    assert "bob@example.com" in admin_client.get(URL, {"q": "bob@"}).content.decode()
    assert link.public_id not in admin_client.get(URL, {"revoked": "yes"}).content.decode()
    assert link.public_id in admin_client.get(URL, {"revoked": "no"}).content.decode()


def test_a_link_is_read_only_and_never_shows_its_signature_hash(admin_client, issue):
    link, _ = issue()
    page = admin_client.get(f"{URL}{link.pk}/change/").content.decode()
    assert link.public_id in page and link.sig_hash not in page
    assert admin_client.get(f"{URL}add/").status_code == 403
    assert admin_client.get(f"{URL}{link.pk}/delete/").status_code == 403


def test_revoke_selected_revokes_those_links(admin_client, issue):
    link, _ = issue()
    other, _ = issue()
    response = admin_client.post(URL, {"action": "revoke_selected", "_selected_action": [link.pk]}, follow=True)
    assert "Revoked 1 link(s)." in response.content.decode()
    assert list(PortalLink.objects.filter(revoked_at__isnull=False)) == [link]


def test_revoke_emails_revokes_every_link_of_those_emails(admin_client, issue):
    link, _ = issue()
    issue()
    bob, _ = issue("bob@example.com")
    response = admin_client.post(URL, {"action": "revoke_emails", "_selected_action": [link.pk]}, follow=True)
    assert "Revoked 2 link(s) of 1 email(s)." in response.content.decode()
    assert list(PortalLink.objects.filter(revoked_at__isnull=True)) == [bob]
    assert PortalRevocation.objects.get().email == CUSTOMER


@pytest.mark.parametrize("action", ["revoke_selected", "revoke_emails"])
def test_a_view_only_user_cannot_revoke_links(staff_login, issue, action):
    link, _ = issue()
    client = staff_login("portal.view_portallink")
    page = client.get(URL).content.decode()
    assert link.public_id in page and f'value="{action}"' not in page
    assert client.post(URL, {"action": action, "_selected_action": [link.pk], "index": "0"}).status_code == 403
    link.refresh_from_db()
    assert link.revoked_at is None and not PortalRevocation.objects.exists()


def test_revoking_links_needs_the_revoke_permission(staff_login, issue):
    link, _ = issue()
    client = staff_login("portal.view_portallink", "portal.revoke_portallink")
    assert 'value="revoke_selected"' in client.get(URL).content.decode()
    client.post(URL, {"action": "revoke_selected", "_selected_action": [link.pk], "index": "0"})
    link.refresh_from_db()
    assert link.revoked_at is not None
