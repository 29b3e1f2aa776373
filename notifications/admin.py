from django.contrib import admin, messages
from django.utils.html import format_html

from echopilot.actors import actor_user
from echopilot.admin import ReadOnlyAdmin
from notifications.models import Email, Status, TelegramMessage
from notifications.services import email_requeue, email_resend, telegram_requeue

# Inside the preview nothing loads from outside (no images, fonts, scripts); the sandbox also forbids scripts.
_PREVIEW_CSP = "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"


class HasErrorFilter(admin.SimpleListFilter):
    title = "has error"
    parameter_name = "has_error"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(last_error="")
        if self.value() == "no":
            return queryset.filter(last_error="")
        return queryset


class DeliveryAdmin(ReadOnlyAdmin):
    """Machine records: read-only, filterable; operators act on them only through the actions."""

    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description="Last error")
    def error(self, obj):
        return obj.last_error[:80]


@admin.register(Email)
class EmailAdmin(DeliveryAdmin):
    list_display = ["created_at", "public_id", "recipients", "subject", "kind", "status", "attempts", "error"]
    list_filter = ["status", "kind", HasErrorFilter, "created_at"]
    search_fields = ["to", "subject", "=public_id"]
    fields = [
        "public_id",
        "to",
        "subject",
        "kind",
        "status",
        "attempts",
        "next_attempt_at",
        "claimed_at",
        "last_error",
        "error_type",
        "message_id",
        "payment",
        "idempotency_key",
        "created_by",
        "created_at",
        "sent_at",
        "portal_link_for",
        "body",
        "html_preview",
    ]
    readonly_fields = fields
    actions = ["requeue", "resend"]

    @admin.display(description="To")
    def recipients(self, obj):
        return ", ".join(obj.to)

    @admin.display(description="HTML body")
    def html_preview(self, obj):
        if not obj.html:
            return "-"
        return format_html(
            '<iframe sandbox referrerpolicy="no-referrer" srcdoc="{}" style="width: 100%; height: 400px; '
            'border: 1px solid #ccc; background: #fff;"></iframe>',
            _PREVIEW_CSP + obj.html,
        )

    def has_resend_permission(self, request):
        return request.user.has_perm("notifications.resend_email")

    @admin.action(description="Requeue selected failed emails", permissions=["resend"])
    def requeue(self, request, queryset):
        requeued = sum(email_requeue(email=email) for email in queryset.filter(status=Status.FAILED))
        self.message_user(request, f"Requeued {requeued} failed email(s).", messages.SUCCESS)

    @admin.action(description="Send selected emails again (as new emails)", permissions=["resend"])
    def resend(self, request, queryset):
        by = actor_user(request.user)
        copies = [email_resend(email=email, created_by=by) for email in queryset.select_related("payment")]
        self.message_user(
            request, f"Created {len(copies)} new email(s): {', '.join(c.public_id for c in copies)}.", messages.SUCCESS
        )


@admin.register(TelegramMessage)
class TelegramMessageAdmin(DeliveryAdmin):
    list_display = ["created_at", "public_id", "chat_id", "kind", "status", "attempts", "error"]
    list_filter = ["status", "kind", HasErrorFilter, "created_at"]
    search_fields = ["=public_id", "text"]
    fields = [
        "public_id",
        "chat_id",
        "kind",
        "status",
        "attempts",
        "next_attempt_at",
        "claimed_at",
        "last_error",
        "error_type",
        "telegram_message_id",
        "created_at",
        "sent_at",
        "text",
    ]
    readonly_fields = fields
    actions = ["requeue"]

    def has_requeue_permission(self, request):
        return request.user.has_perm("notifications.requeue_telegrammessage")

    @admin.action(description="Requeue selected failed messages", permissions=["requeue"])
    def requeue(self, request, queryset):
        requeued = sum(telegram_requeue(message=message) for message in queryset.filter(status=Status.FAILED))
        self.message_user(request, f"Requeued {requeued} failed message(s).", messages.SUCCESS)
