"""The admin's two ready groups, *Fraud reviewers* and *Operators*, and what each may do.

``manage.py migrate`` creates both and sets their permissions to exactly these lists
(``roles_sync``, run after every migrate), so each group always holds what is written
here: change a role here, not in the admin. For any other combination, make a group of
your own in the admin (*Authentication and Authorization → Groups*). A user needs
"Staff status" to log in to the admin at all, and may be in both groups.

The lists live in observability, the top app, because they name every app's permissions.
"""

from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q

FRAUD_REVIEWERS = "Fraud reviewers"
OPERATORS = "Operators"

ROLES: dict[str, list[str]] = {
    # The review queue: see checks, reviews, lists and the customer's payments; open, approve and reject reviews.
    # Rule sets: see them, draft new versions, backtest them and run them in shadow (none of which changes a
    # decision). Activating and approving are left out of both roles: give fraud.activate_ruleset and
    # fraud.approve_ruleset to the people who own the rules, in a group of your own.
    FRAUD_REVIEWERS: [
        "fraud.view_fraudcheck",
        "fraud.view_fraudreview",
        "fraud.view_listentry",
        "fraud.review_fraudcheck",
        "fraud.view_ruleset",
        "fraud.add_ruleset",
        "fraud.change_ruleset",
        "fraud.view_backtestrun",
        "payments.view_payment",
    ],
    # Running the service: see everything, the dashboard and the API docs; revoke keys and portal links,
    # requeue and resend messages, reprocess webhook events, resubmit failed tasks, keep the allow and
    # block list, the alert silences, the maintenance windows and the email suppression list.
    # Not: decide reviews, edit payments, manage users, unlock logins.
    OPERATORS: [
        "echopilot.view_apikey",
        "echopilot.add_apikey",
        "echopilot.revoke_apikey",
        "echopilot.view_heartbeat",
        "echopilot.view_taskqueueevent",
        "echopilot.view_api_docs",
        "payments.view_payment",
        "payments.view_webhookevent",
        "payments.reprocess_webhookevent",
        "payments.view_webhookrejection",
        "fraud.view_fraudcheck",
        "fraud.view_fraudreview",
        "fraud.view_listentry",
        "fraud.add_listentry",
        "fraud.change_listentry",
        "fraud.delete_listentry",
        "fraud.view_ruleset",
        "fraud.view_backtestrun",
        "notifications.view_email",
        "notifications.resend_email",
        "notifications.view_telegrammessage",
        "notifications.requeue_telegrammessage",
        "notifications.view_suppression",
        "notifications.delete_suppression",
        "notifications.view_deliveryfeedback",
        "notifications.view_telegramupdate",
        "portal.view_portallink",
        "portal.revoke_portallink",
        "observability.view_dashboard",
        "observability.view_snapshot",
        "observability.view_alert",
        "observability.view_silence",
        "observability.add_silence",
        "observability.change_silence",
        "observability.delete_silence",
        "observability.view_alerttransition",
        "observability.view_maintenancewindow",
        "observability.add_maintenancewindow",
        "observability.change_maintenancewindow",
        "observability.delete_maintenancewindow",
        "django_q.view_schedule",
        "django_q.view_success",
        "django_q.view_failure",
        "django_q.change_failure",
        "django_q.view_ormq",
        "axes.view_accessattempt",
        "axes.view_accesslog",
        "axes.view_accessfailurelog",
    ],
}


def role_permissions(*, role: str) -> list[Permission]:
    """The permissions of one role; ImproperlyConfigured names any that does not exist."""
    names = ROLES[role]
    match = Q(pk__in=[])
    for name in names:
        app_label, codename = name.split(".", 1)
        match |= Q(content_type__app_label=app_label, codename=codename)
    found = list(Permission.objects.filter(match).select_related("content_type"))
    missing = set(names) - {f"{p.content_type.app_label}.{p.codename}" for p in found}
    if missing:
        raise ImproperlyConfigured(f"Role {role!r} names permissions that do not exist: {', '.join(sorted(missing))}.")
    return found


def roles_sync() -> None:
    """Create the groups of ``ROLES`` and give each exactly its permissions (idempotent)."""
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(role_permissions(role=role))


def roles_sync_after_migrate(sender, apps=None, **kwargs) -> None:
    """post_migrate of this app: every app before it in INSTALLED_APPS has its permissions by now.

    A partial migrate (``migrate payments 0003`` on a fresh database) leaves some of the apps
    the roles name unmigrated, with no tables or permissions yet: then the groups wait for the
    next full migrate instead of failing this one.
    """
    if apps is None:  # `flush` (and TransactionTestCase after each test) sends the signal without the state
        return roles_sync()
    labels = {"auth"} | {name.split(".", 1)[0] for names in ROLES.values() for name in names}
    try:
        for label in labels:
            apps.get_app_config(label)
    except LookupError:
        return
    roles_sync()
