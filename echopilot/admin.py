from axes.admin import AccessAttemptAdmin as AxesAccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.template.response import TemplateResponse
from django_q.admin import FailAdmin as QFailAdmin
from django_q.admin import TaskAdmin as QTaskAdmin
from django_q.admin import resubmit_task
from django_q.models import Failure, Success

from echopilot.keys import api_key_create, api_key_revoke
from echopilot.models import ApiKey, Heartbeat, TaskQueueEvent


class ActionPermissionMixin:
    """A posted action the user may not run is refused with 403.

    Every action declares the permissions it needs (``@admin.action(permissions=[...])``,
    with a ``has_<name>_permission(request)`` method for a custom one), and Django offers a
    user only the actions they hold. A forged POST of another action, though, Django
    silently ignores; we answer it with 403 before anything else happens.
    ``guard_admin_actions()`` puts this in front of every registered admin, the libraries'
    included, so no admin class needs to name it.
    """

    def changelist_view(self, request, extra_context=None):
        # Every posted value counts: Django picks one of several by the posted "index".
        posted = request.POST.getlist("action") if request.method == "POST" else []
        if any(action and action not in self.get_actions(request) for action in posted):
            raise PermissionDenied
        return super().changelist_view(request, extra_context)


@admin.action(description="Resubmit selected tasks to the queue", permissions=["change"])
def resubmit_tasks(model_admin, request, queryset):
    """django-q2's action, which declares no permission: running tasks again needs the change permission."""
    resubmit_task(model_admin, request, queryset)


class TaskAdmin(QTaskAdmin):
    actions = [resubmit_tasks]


class FailAdmin(QFailAdmin):
    actions = [resubmit_tasks]


class AccessAttemptAdmin(AxesAccessAttemptAdmin):
    """django-axes' login attempts; deleting them (or cleaning up expired ones) unlocks, so it needs delete."""

    @admin.action(description="Clean up expired attempts", permissions=["delete"])
    def cleanup_expired_attempts(self, request, queryset):
        super().cleanup_expired_attempts(request, queryset)


# Library admins whose actions declare no permission, replaced by the subclasses above.
_LIBRARY_ADMINS = {Success: TaskAdmin, Failure: FailAdmin, AccessAttempt: AccessAttemptAdmin}


def guard_admin_actions(site=admin.site) -> None:
    """Re-register every admin of ``site`` with ``ActionPermissionMixin`` in front (called once all are registered).

    Runs from ``EchopilotConfig.ready()``, after the admin's autodiscovery, so it covers our
    apps and the libraries' admins alike (auth, django-q2, django-axes).
    """
    for model, model_admin in list(site._registry.items()):
        if isinstance(model_admin, ActionPermissionMixin):
            continue
        base = _LIBRARY_ADMINS.get(model, type(model_admin))
        site.unregister(model)
        site.register(model, type(base.__name__, (ActionPermissionMixin, base), {"__module__": base.__module__}))


class ExactSearchMixin:
    """Changelist for a table of millions of rows: exact-match search on indexed columns, no full count.

    ``exact_search`` maps each searched column to how the typed term becomes its
    value (``None``: as typed), e.g. ``{"email": str.lower, "provider_id": None}``.
    A row matches when any column equals its value, so every lookup can use an
    index; ``icontains`` would scan the whole table. ``show_full_result_count =
    False`` drops the second ``COUNT(*)`` over the unfiltered table on every page.
    """

    exact_search: dict = {}
    show_full_result_count = False

    def get_search_fields(self, request):
        # Shows the search box; the lookups themselves are in get_search_results.
        return list(self.exact_search)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        match = Q()
        for field, to_value in self.exact_search.items():
            match |= Q(**{field: to_value(term) if to_value else term})
        return queryset.filter(match), False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Machine records (decisions, deliveries, events): viewable and filterable, never edited by hand.

    The change page is a detail page (no Save, no Delete); operators act on records only through
    actions, each behind its own permission. ``records.css`` lets the lists wrap long values instead
    of widening the table, styles ``echopilot.admin_display``'s badges and JSON, and gives the phone
    action bar 44 px touch targets.
    """

    class Media:
        css = {"all": ["echopilot/records.css"]}

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # retention prunes them; nobody removes a record by hand


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "status", "created_at", "created_by", "expires_at", "last_used_at"]
    list_filter = ["revoked_at", "expires_at"]
    search_fields = ["name", "prefix"]
    list_select_related = ["created_by"]
    readonly_fields = ["prefix", "created_at", "created_by", "revoked_at", "last_used_at"]
    actions = ["revoke"]

    @admin.display(description="Status")
    def status(self, obj):
        if obj.revoked_at:
            return "revoked"
        return "active" if obj.is_active() else "expired"

    def get_readonly_fields(self, request, obj=None):
        # A key's name and expiry are fixed once created; revoke it and make a new one.
        if obj is not None:
            return [*self.readonly_fields, "name", "expires_at"]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return
        key, raw = api_key_create(
            name=form.cleaned_data["name"], expires_at=form.cleaned_data.get("expires_at"), created_by=request.user
        )
        obj.pk = key.pk
        obj.refresh_from_db()
        request._new_api_key = raw

    def response_add(self, request, obj, post_url_continue=None):
        # The key is shown on this one page and never stored: no message, no cookie, no session.
        return TemplateResponse(
            request,
            "admin/echopilot/apikey/created.html",
            {
                **self.admin_site.each_context(request),
                "key": obj,
                "raw_key": request._new_api_key,
                "opts": self.model._meta,
                "title": "API key created",
            },
        )

    def has_revoke_permission(self, request):
        return request.user.has_perm("echopilot.revoke_apikey")

    @admin.action(description="Revoke selected keys", permissions=["revoke"])
    def revoke(self, request, queryset):
        revoked = sum(api_key_revoke(key=key) for key in queryset)
        self.message_user(request, f"Revoked {revoked} key(s).", messages.SUCCESS)


@admin.register(Heartbeat)
class HeartbeatAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "node", "pid"]
    list_filter = ["node"]
    date_hierarchy = "created_at"


@admin.register(TaskQueueEvent)
class TaskQueueEventAdmin(ReadOnlyAdmin):
    """What the watchdog of `serve` saw and did to its qclusters: exits, stalls, restarts, recoveries."""

    list_display = ["created_at", "node", "event", "reason", "stalled_since"]
    list_filter = ["event", "node"]
    date_hierarchy = "created_at"
