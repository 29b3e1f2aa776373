"""The suppression list in the admin: reason and date shown, removal only with delete permission, and audited."""

import pytest

from notifications.models import Suppression

pytestmark = pytest.mark.django_db

LIST = "/admin/notifications/suppression/"


@pytest.fixture
def suppression():
    return Suppression.objects.create(
        address="dead@example.com", reason="bounced", provider="postmark", event_id="1", description="550 5.1.1"
    )


def test_the_list_shows_address_reason_and_date(staff_login, suppression):
    page = staff_login("notifications.view_suppression").get(LIST)
    html = page.content.decode()
    assert page.status_code == 200
    assert "dead@example.com" in html and "Hard bounce" in html and "<time" in html


def test_a_viewer_cannot_remove_an_address_even_with_a_forged_post(staff_login, suppression):
    client = staff_login("notifications.view_suppression")
    assert client.post(f"{LIST}{suppression.pk}/delete/", {"post": "yes"}).status_code == 403
    client.post(LIST, {"action": "delete_selected", "_selected_action": [suppression.pk], "post": "yes"})
    assert Suppression.objects.exists()


def test_removal_is_audited_with_who_did_it(staff_login, suppression, read_audit, django_capture_on_commit_callbacks):
    client = staff_login("notifications.view_suppression", "notifications.delete_suppression", username="ops")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{LIST}{suppression.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Suppression.objects.exists()
    [line] = [line for line in read_audit("emails") if line["event"] == "address_unsuppressed"]
    assert (line["address"], line["reason"]) == ("dead@example.com", "bounced")
    assert "ops" in line["by"]


def test_bulk_removal_is_audited_per_address(staff_login, suppression, read_audit, django_capture_on_commit_callbacks):
    other = Suppression.objects.create(address="angry@example.com", reason="complained")
    client = staff_login("notifications.view_suppression", "notifications.delete_suppression")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(LIST, {"action": "delete_selected", "_selected_action": [suppression.pk, other.pk], "post": "yes"})
    assert not Suppression.objects.exists()
    removed = sorted(line["address"] for line in read_audit("emails") if line["event"] == "address_unsuppressed")
    assert removed == ["angry@example.com", "dead@example.com"]


def test_feedback_events_are_read_only(staff_login):
    client = staff_login("notifications.view_deliveryfeedback")
    assert client.get("/admin/notifications/deliveryfeedback/").status_code == 200
    assert client.get("/admin/notifications/deliveryfeedback/add/").status_code == 403
