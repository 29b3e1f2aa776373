from django.contrib import admin, messages

from echopilot.admin import ExactSearchMixin, ReadOnlyAdmin
from payments.models import Payment, WebhookEvent, WebhookRejection
from payments.services import webhook_event_reprocess


@admin.register(Payment)
class PaymentAdmin(ExactSearchMixin, admin.ModelAdmin):
    list_display = ["provider_id", "email", "amount", "currency", "status", "card_type", "created_at"]
    list_filter = ["status", "currency", "card_type", "created_at"]
    # Exact matches only, so the search uses the indexes on a ledger of millions of rows.
    exact_search = {"email": str.lower, "provider_id": None}
    search_help_text = "Exact email or provider payment id."
    date_hierarchy = "created_at"
    readonly_fields = [
        "provider_id",
        "amount",
        "currency",
        "receipt_requested_at",
        "receipt_owed",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request):
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "event_id", "type", "status", "attempts", "error"]
    list_filter = ["status", "type", "received_at"]
    search_fields = ["=event_id"]
    date_hierarchy = "received_at"
    show_full_result_count = False
    actions = ["reprocess"]

    @admin.display(description="Last error")
    def error(self, obj):
        return obj.last_error[:80]

    def has_reprocess_permission(self, request):
        return request.user.has_perm("payments.reprocess_webhookevent")

    @admin.action(description="Reprocess selected failed events", permissions=["reprocess"])
    def reprocess(self, request, queryset):
        outcomes = [
            webhook_event_reprocess(webhook=webhook) for webhook in queryset.filter(status=WebhookEvent.Status.FAILED)
        ]
        self.message_user(
            request,
            f"Reprocessed {len(outcomes)} failed event(s): {outcomes.count('processed')} processed, "
            f"{outcomes.count('failed')} failed again, {outcomes.count('invalid')} invalid (never processable).",
            messages.SUCCESS if "failed" not in outcomes else messages.WARNING,
        )


@admin.register(WebhookRejection)
class WebhookRejectionAdmin(ReadOnlyAdmin):
    """Refused deliveries, one row per reason and minute: how many, and metadata of the latest body."""

    list_display = ["minute", "reason", "count", "last_at", "last_bytes"]  # the rest on the detail page
    list_filter = ["reason", "minute"]
    date_hierarchy = "minute"
    show_full_result_count = False
