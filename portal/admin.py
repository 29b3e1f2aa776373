from django.contrib import admin, messages

from echopilot.actors import actor_user
from echopilot.admin import ReadOnlyAdmin
from portal.models import PortalLink
from portal.services import portal_email_revoke, portal_link_revoke


class RevokedFilter(admin.SimpleListFilter):
    title = "revoked"
    parameter_name = "revoked"

    def lookups(self, request, model_admin):
        return [("yes", "Revoked"), ("no", "Not revoked")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(revoked_at__isnull=self.value() == "no")
        return queryset


@admin.register(PortalLink)
class PortalLinkAdmin(ReadOnlyAdmin):
    """Issued links (never the link itself): read-only; revoke them with the actions."""

    list_display = ["public_id", "email", "created_at", "expires_at", "created_by", "revoked_at", "use_count"]
    list_filter = [RevokedFilter, "created_at"]
    search_fields = ["email", "=public_id"]
    date_hierarchy = "created_at"
    exclude = ["sig_hash"]
    actions = ["revoke_selected", "revoke_emails"]

    def has_delete_permission(self, request, obj=None):
        return False

    def has_revoke_permission(self, request):
        return request.user.has_perm("portal.revoke_portallink")

    @admin.action(description="Revoke selected links", permissions=["revoke"])
    def revoke_selected(self, request, queryset):
        revoked = sum(portal_link_revoke(link=link, revoked_by=actor_user(request.user)) for link in queryset)
        self.message_user(request, f"Revoked {revoked} link(s).", messages.SUCCESS)

    @admin.action(description="Revoke all links of these emails", permissions=["revoke"])
    def revoke_emails(self, request, queryset):
        emails = sorted(set(queryset.values_list("email", flat=True)))
        revoked = sum(portal_email_revoke(email=email, revoked_by=actor_user(request.user)) for email in emails)
        self.message_user(request, f"Revoked {revoked} link(s) of {len(emails)} email(s).", messages.SUCCESS)
