from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from echopilot.admin import ExactSearchMixin, ReadOnlyAdmin
from echopilot.admin_display import badge_html, counted, json_html, moment_field, moment_html, truncated_html
from echopilot.money import money_format
from payments.models import Payment, WebhookEvent, WebhookRejection
from payments.services import webhook_event_reprocess

_REPROCESSED = {"processed": "processed", "failed": "failed again", "invalid": "invalid (never processable)"}


@admin.register(Payment)
class PaymentAdmin(ExactSearchMixin, ReadOnlyAdmin):
    """The ledger, fed by Stripe's webhooks: read-only here, so nobody changes a payment by hand."""

    list_display = ["provider_id", "created", "email", "amount_shown", "status_shown", "card"]
    list_filter = ["status", "currency", "card_type", "created_at"]
    # Exact matches only, so the search uses the indexes on a ledger of millions of rows.
    exact_search = {"email": str.lower, "provider_id": None}
    search_help_text = "Exact email or provider payment id."
    date_hierarchy = "created_at"
    fields = [
        "provider_id",
        "email",
        "amount_shown",
        "status_shown",
        "card_type",
        "card_fingerprint",
        "failure_code",
        "failure_message",
        "refund_reason",
        "disputed",
        "dispute_reason",
        "created",
        "updated",
        "receipt_requested",
        "receipt_owed",
        "receipt_emails",
    ]
    readonly_fields = fields

    created = moment_field("created_at", "Created")
    updated = moment_field("updated_at", "Updated")
    disputed = moment_field("disputed_at", "Disputed")
    receipt_requested = moment_field("receipt_requested_at", "Receipt requested")

    @admin.display(description="Receipt emails")
    def receipt_emails(self, payment):
        """Each receipt sent for the payment with its delivery status (suppressed: the address is on the list)."""
        emails = payment.emails.filter(kind="receipt").order_by("created_at", "id")
        return (
            format_html_join(
                "",
                '<div class="record-line"><a href="{}">{}</a> {} {}</div>',
                (
                    (
                        reverse("admin:notifications_email_change", args=[email.pk]),
                        email.public_id,
                        badge_html(email.status, email.status_text),
                        moment_html(email.created_at),
                    )
                    for email in emails
                ),
            )
            or "-"
        )

    @admin.display(description="Amount", ordering="amount")
    def amount_shown(self, payment):
        return money_format(payment.amount, payment.currency)

    @admin.display(description="Status", ordering="status")
    def status_shown(self, payment):
        return badge_html(payment.status, payment.get_status_display())

    @admin.display(description="Card")
    def card(self, payment):
        if not payment.card_fingerprint:
            return payment.get_card_type_display()
        return format_html("{} {}", payment.get_card_type_display(), truncated_html(payment.card_fingerprint, chars=12))


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["received", "event_id", "type", "status_shown", "attempts", "error"]
    list_filter = ["status", "type", "received_at"]
    search_fields = ["=event_id"]
    date_hierarchy = "received_at"
    show_full_result_count = False
    fields = ["event_id", "type", "status_shown", "attempts", "last_error", "received", "updated", "payload_shown"]
    readonly_fields = fields
    actions = ["reprocess"]

    received = moment_field("received_at", "Received")
    updated = moment_field("updated_at", "Updated")

    @admin.display(description="Status", ordering="status")
    def status_shown(self, webhook):
        return badge_html(webhook.status, webhook.get_status_display())

    @admin.display(description="Last error")
    def error(self, webhook):
        return truncated_html(webhook.last_error)

    @admin.display(description="Payload")
    def payload_shown(self, webhook):
        return json_html(webhook.payload)

    def has_reprocess_permission(self, request):
        return request.user.has_perm("payments.reprocess_webhookevent")

    @admin.action(description="Reprocess selected failed events", permissions=["reprocess"])
    def reprocess(self, request, queryset):
        selected = queryset.count()
        failed = list(queryset.filter(status=WebhookEvent.Status.FAILED))
        outcomes = [webhook_event_reprocess(webhook=webhook) for webhook in failed]
        said = ", ".join(
            f"{webhook.event_id} {_REPROCESSED.get(outcome, outcome)}"
            for webhook, outcome in zip(failed, outcomes, strict=True)
        )
        text = f"Reprocessed {counted(len(failed), 'failed event')}: {said}." if failed else "Nothing reprocessed."
        if selected > len(failed):
            text += f" {counted(selected - len(failed), 'other selected event')} left alone (not failed)."
        self.message_user(request, text, messages.WARNING if "failed" in outcomes or not failed else messages.SUCCESS)


@admin.register(WebhookRejection)
class WebhookRejectionAdmin(ReadOnlyAdmin):
    """Refused deliveries, one row per reason and minute: how many, and metadata of the latest body."""

    list_display = ["minute_shown", "reason", "count", "last", "last_bytes"]  # the rest on the detail page
    list_filter = ["reason", "minute"]
    date_hierarchy = "minute"
    show_full_result_count = False
    fields = [
        "reason",
        "minute_shown",
        "count",
        "first",
        "last",
        "last_detail",
        "last_content_type",
        "last_bytes",
        "last_sha256",
    ]
    readonly_fields = fields

    minute_shown = moment_field("minute", "Minute")
    first = moment_field("first_at", "First")
    last = moment_field("last_at", "Last")
