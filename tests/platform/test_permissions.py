"""Every admin action, every custom admin page and every staff page, walked with three users.

- *nobody*: staff, no permission at all;
- *viewer*: staff with every view permission there is (a view-only user of the whole admin);
- *permitted*: staff with the model's view permission and exactly what the action or page asks for.

The actions and admin URLs are read from ``admin.site`` itself, so an action or page added
later is walked without touching this file; one that declares no permission, or a custom
admin URL not listed in ``ADMIN_PAGES``, fails here.
"""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission, User
from django.test import RequestFactory
from django.urls import reverse

from echopilot.models import ApiKey
from fraud.models import FraudCheck
from notifications.models import Email
from observability.roles import FRAUD_REVIEWERS, OPERATORS, ROLES, roles_sync
from portal.models import PortalLink
from tests.factories import make_fraud_review, make_user

pytestmark = pytest.mark.django_db

# Staff pages outside the admin, with the permission each needs.
STAFF_PAGES = {
    "/dashboard/": "observability.view_dashboard",
    "/api/docs/": "echopilot.view_api_docs",
    "/api/schema/": "echopilot.view_api_docs",
}

# Admin URLs besides each model's changelist, add, change, delete and history: the permission each needs.
ADMIN_PAGES = {
    "auth_user_password_change": "auth.change_user",
}
# Custom admin URLs that only take a POST (buttons on a rule set's page), each with the permission it needs.
ADMIN_POSTS = {
    "fraud_ruleset_backtest": "fraud.change_ruleset",
    "fraud_ruleset_shadow_start": "fraud.change_ruleset",
    "fraud_ruleset_shadow_stop": "fraud.change_ruleset",
    "fraud_ruleset_activate": "fraud.activate_ruleset",
    "fraud_ruleset_withdraw": "fraud.activate_ruleset",
    "fraud_ruleset_approve": "fraud.approve_ruleset",
}
_STANDARD_VIEWS = ("changelist", "add", "change", "delete", "history")


class _Everyone:
    """A user object that holds every permission: to list every action an admin can offer."""

    is_active = is_staff = is_superuser = is_authenticated = True
    is_anonymous = False
    pk = id = None

    def has_perm(self, perm, obj=None):
        return True

    def has_module_perms(self, app_label):
        return True


class _Recorder(_Everyone):
    """Holds nothing and writes down every permission it is asked about."""

    is_superuser = False

    def __init__(self):
        self.asked = []

    def has_perm(self, perm, obj=None):
        self.asked.append(perm)
        return False


def _request(user):
    request = RequestFactory().get("/")
    request.user = user
    return request


def _actions():
    for model, model_admin in admin.site._registry.items():
        for name, (func, _, _) in model_admin.get_actions(_request(_Everyone())).items():
            yield pytest.param(model, name, func, id=f"{model._meta.label}:{name}")


def _required(model, func) -> set[str]:
    """The Django permissions an action asks for, read off its has_<p>_permission methods."""
    model_admin = admin.site._registry[model]
    recorder = _Recorder()
    for permission in func.allowed_permissions:
        getattr(model_admin, f"has_{permission}_permission")(_request(recorder))
    return set(recorder.asked)


def _view(model) -> str:
    return f"{model._meta.app_label}.view_{model._meta.model_name}"


@pytest.fixture
def login(client):
    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture
def viewer():
    """Every model's built-in view permission (not the custom ones named view_dashboard and view_api_docs)."""
    user = make_user("viewer")
    permissions = Permission.objects.select_related("content_type").filter(codename__startswith="view_")
    user.user_permissions.set([p for p in permissions if p.codename == f"view_{p.content_type.model}"])
    return user


def _offered(model, user) -> set[str]:
    """The actions the changelist offers this user (the page shows them once the list has rows)."""
    user = User.objects.get(pk=user.pk)  # no cached permissions
    return set(admin.site._registry[model].get_actions(_request(user)))


def _changelist(model) -> str:
    return f"/admin/{model._meta.app_label}/{model._meta.model_name}/"


def _post_action(client, model, name):
    return client.post(_changelist(model), {"action": name, "index": "0", "_selected_action": ["1"]})


@pytest.mark.parametrize(("model", "name", "func"), list(_actions()))
def test_every_action_declares_a_permission_that_someone_can_hold(model, name, func):
    assert getattr(func, "allowed_permissions", None), f"{name} declares no permissions=[...]"
    assert _required(model, func), f"{name}: no user can hold what its has_*_permission methods ask for"


@pytest.mark.parametrize(("model", "name", "func"), list(_actions()))
def test_a_user_without_permissions_gets_403_for_the_list_and_the_action(login, model, name, func):
    client = login(make_user("nobody"))
    assert client.get(_changelist(model)).status_code == 403
    assert _post_action(client, model, name).status_code == 403


@pytest.mark.parametrize(("model", "name", "func"), list(_actions()))
def test_a_view_only_user_is_not_offered_the_action_and_a_forged_post_is_403(login, viewer, model, name, func):
    if set(func.allowed_permissions) <= {"view"}:
        pytest.skip("a view-only action")
    client = login(viewer)
    assert client.get(_changelist(model)).status_code == 200
    assert name not in _offered(model, viewer)
    assert _post_action(client, model, name).status_code == 403


@pytest.mark.parametrize(("model", "name", "func"), list(_actions()))
def test_a_permitted_user_is_offered_the_action_and_may_post_it(login, model, name, func):
    user = make_user("permitted", permissions=[_view(model), *_required(model, func)])
    client = login(user)
    assert client.get(_changelist(model)).status_code == 200
    assert name in _offered(model, user)
    # Nothing selected: Django's own "Items must be selected" answer (a redirect), not our 403.
    assert client.post(_changelist(model), {"action": name, "index": "0"}).status_code == 302


def test_a_forbidden_action_hidden_among_several_posted_is_403(login, viewer):
    """Django runs the posted action at the posted index; a forbidden one anywhere in the list is refused."""
    client = login(viewer)
    for actions, index in ((["revoke", ""], "0"), (["", "revoke"], "1"), (["", "revoke"], "9")):
        response = client.post(_changelist(ApiKey), {"action": actions, "index": index, "_selected_action": ["1"]})
        assert response.status_code == 403


def test_an_unknown_action_is_403_too(login, viewer):
    client = login(viewer)
    assert _post_action(client, User, "no_such_action").status_code == 403
    # No action chosen at all is Django's "No action selected", not a forgery.
    assert client.post(_changelist(User), {"action": "", "index": "0"}).status_code in (200, 302)


def _admin_pages():
    names = {}
    for model, model_admin in admin.site._registry.items():
        prefix = f"{model._meta.app_label}_{model._meta.model_name}"
        standard = {f"{prefix}_{view}" for view in _STANDARD_VIEWS}
        for pattern in model_admin.get_urls():
            if pattern.name and pattern.name not in standard:
                names[pattern.name] = model
    return names


def test_every_custom_admin_page_is_listed_with_its_permission():
    assert set(_admin_pages()) == set(ADMIN_PAGES) | set(ADMIN_POSTS)


@pytest.mark.parametrize("name", sorted(ADMIN_POSTS))
def test_custom_admin_posts_need_their_permission(login, viewer, name):
    from fraud.rulesets import ruleset_draft

    path = reverse(f"admin:{name}", args=[ruleset_draft(note="x", by="user:ann").pk])
    assert login(make_user("nobody")).post(path).status_code == 403
    assert login(make_user("reader", permissions=["fraud.view_ruleset"])).post(path).status_code == 403
    permitted = make_user("permitted", permissions=[ADMIN_POSTS[name], "fraud.view_ruleset"])
    assert login(permitted).post(path, {"days": "7"}).status_code == 302  # done, or refused with a message


@pytest.mark.parametrize("name", sorted(ADMIN_PAGES))
def test_custom_admin_pages_need_their_permission(login, viewer, name):
    path = reverse(f"admin:{name}", args=[make_user("target").pk])
    assert login(make_user("nobody")).get(path).status_code == 403
    assert login(viewer).get(path).status_code == 403
    permitted = make_user("permitted", permissions=[ADMIN_PAGES[name], "auth.view_user"])
    assert login(permitted).get(path).status_code == 200


@pytest.mark.parametrize("path", sorted(STAFF_PAGES))
def test_staff_pages_need_their_permission_not_only_staff_status(login, viewer, path):
    assert login(make_user("nobody")).get(path).status_code == 403
    assert login(viewer).get(path).status_code == 403
    assert login(make_user("permitted", permissions=[STAFF_PAGES[path]])).get(path).status_code == 200


def test_the_admin_index_links_the_dashboard_only_for_those_who_may_open_it(login):
    assert 'href="/dashboard/"' not in login(make_user("nobody")).get("/admin/").content.decode()
    permitted = make_user("permitted", permissions=["observability.view_dashboard"])
    assert 'href="/dashboard/"' in login(permitted).get("/admin/").content.decode()


def _group_permissions(name: str) -> set[str]:
    group = Group.objects.get(name=name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def test_migrate_creates_the_two_groups_with_exactly_their_permissions():
    for role, permissions in ROLES.items():
        assert _group_permissions(role) == set(permissions)


def test_syncing_the_roles_is_idempotent_and_undoes_hand_edits():
    operators = Group.objects.get(name=OPERATORS)
    operators.permissions.add(Permission.objects.get(codename="delete_payment"))
    operators.permissions.remove(Permission.objects.get(codename="revoke_apikey"))
    roles_sync()
    roles_sync()
    assert Group.objects.filter(name__in=ROLES).count() == 2
    assert _group_permissions(OPERATORS) == set(ROLES[OPERATORS])


def test_a_fraud_reviewer_decides_reviews_and_nothing_else(login):
    user = make_user("reviewer")
    user.groups.add(Group.objects.get(name=FRAUD_REVIEWERS))
    client = login(user)
    review = make_fraud_review()  # decided on its page (the review desk), not with bulk actions
    assert 'value="approve"' in client.get(f"/admin/fraud/fraudreview/{review.pk}/change/").content.decode()
    assert "open_review" in _offered(FraudCheck, user)
    for path in ("/admin/fraud/fraudreview/", "/admin/fraud/fraudcheck/", "/admin/payments/payment/"):
        assert client.get(path).status_code == 200
    assert client.get("/admin/echopilot/apikey/").status_code == 403
    assert client.get("/dashboard/").status_code == 403


def test_an_operator_runs_the_service_but_does_not_decide_reviews(login):
    user = make_user("operator")
    user.groups.add(Group.objects.get(name=OPERATORS))
    client = login(user)
    for path in STAFF_PAGES:
        assert client.get(path).status_code == 200
    assert "revoke" in _offered(ApiKey, user)
    assert {"revoke_selected", "revoke_emails"} <= _offered(PortalLink, user)
    assert {"requeue", "resend"} <= _offered(Email, user)
    assert client.get("/admin/fraud/fraudreview/").status_code == 200
    review = make_fraud_review()
    assert 'value="approve"' not in client.get(f"/admin/fraud/fraudreview/{review.pk}/change/").content.decode()
    assert client.post(f"/admin/fraud/fraudreview/{review.pk}/change/", {"decision": "approve"}).status_code == 403
    assert client.get("/admin/auth/user/").status_code == 403


def test_a_partial_migrate_leaves_the_groups_for_the_next_full_one():
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    from observability.roles import roles_sync_after_migrate

    Group.objects.all().delete()
    # What `migrate payments 0003` on a fresh database has migrated: payments and its dependencies, not auth.
    partial = MigrationLoader(connection).project_state(("payments", "0003_poison_input")).apps
    roles_sync_after_migrate(sender=None, apps=partial)
    assert not Group.objects.exists()
    full = MigrationLoader(connection).project_state().apps
    roles_sync_after_migrate(sender=None, apps=full)
    assert set(Group.objects.values_list("name", flat=True)) == {FRAUD_REVIEWERS, OPERATORS}
