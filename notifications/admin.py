from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from echopilot.actors import actor_user
from echopilot.admin import ReadOnlyAdmin
from echopilot.admin_display import address_short, badge_html, counted, moment_field, record_link, truncated_html
from notifications.feedback import suppression_remove
from notifications.models import DeliveryFeedback, Email, Status, Suppression, TelegramMessage, TelegramUpdate
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


def _email_said(email: Email) -> str:
    """An email as a success message names it: "receipt to grace@…" ("+2" for more recipients)."""
    to = address_short(email.to[0]) if email.to else "nobody"
    more = f" +{len(email.to) - 1}" if len(email.to) > 1 else ""
    return f"{email.kind} to {to}{more}"


class DeliveryAdmin(ReadOnlyAdmin):
    """Machine records: read-only, filterable; operators act on them only through the actions."""

    date_hierarchy = "created_at"
    show_full_result_count = False

    created = moment_field("created_at", "Created")
    sent = moment_field("sent_at", "Sent")
    next_attempt = moment_field("next_attempt_at", "Next attempt")
    claimed = moment_field("claimed_at", "Claimed by a worker")

    @admin.display(description="Status", ordering="status")
    def status_shown(self, delivery):
        return badge_html(delivery.status, delivery.status_text)

    @admin.display(description="Last error")
    def error(self, delivery):
        return truncated_html(delivery.last_error, chars=60)


@admin.register(Email)
class EmailAdmin(DeliveryAdmin):
    list_display = ["created", "recipients", "subject_shown", "kind", "status_shown", "attempts", "error"]
    list_display_links = ["subject_shown"]
    list_filter = ["status", "kind", HasErrorFilter, "created_at"]
    search_fields = ["to", "subject", "=public_id"]
    fields = [
        "public_id",
        "recipient_lines",
        "subject",
        "kind",
        "status_shown",
        "attempts",
        "next_attempt",
        "claimed",
        "last_error",
        "error_type",
        "message_id",
        "payment",
        "idempotency_key",
        "created_by",
        "created",
        "sent",
        "portal_link_for",
        "suppressed_to",
        "body",
        "html_preview",
    ]
    readonly_fields = fields
    actions = ["requeue", "resend"]

    @admin.display(description="To")
    def recipients(self, email):
        return truncated_html(", ".join(email.to), chars=60)

    @admin.display(description="To")
    def recipient_lines(self, email):
        return format_html_join("", '<div class="record-line">{}</div>', ((address,) for address in email.to)) or "-"

    @admin.display(description="Subject", ordering="subject")
    def subject_shown(self, email):
        return truncated_html(email.subject, chars=60)

    @admin.display(description="HTML body")
    def html_preview(self, email):
        if not email.html:
            return "-"
        return format_html(
            '<iframe sandbox referrerpolicy="no-referrer" srcdoc="{}" class="record-preview"></iframe>',
            _PREVIEW_CSP + email.html,
        )

    def has_resend_permission(self, request):
        return request.user.has_perm("notifications.resend_email")

    @admin.action(description="Requeue selected failed emails", permissions=["resend"])
    def requeue(self, request, queryset):
        requeued = [email for email in queryset.filter(status=Status.FAILED) if email_requeue(email=email)]
        said = ", ".join(_email_said(email) for email in requeued)
        self.message_user(
            request,
            f"Requeued {counted(len(requeued), 'failed email')}{': ' + said if said else ''}.",
            messages.SUCCESS if requeued else messages.WARNING,
        )

    @admin.action(description="Send selected emails again (as new emails)", permissions=["resend"])
    def resend(self, request, queryset):
        by = actor_user(request.user)
        copies = [email_resend(email=email, created_by=by) for email in queryset.select_related("payment")]
        said = ", ".join(f"{_email_said(copy)} ({copy.public_id})" for copy in copies)
        self.message_user(request, f"Created {counted(len(copies), 'new email')}: {said}.", messages.SUCCESS)


@admin.register(TelegramMessage)
class TelegramMessageAdmin(DeliveryAdmin):
    list_display = ["created", "public_id", "text_shown", "kind", "status_shown", "attempts", "error"]
    list_display_links = ["public_id"]
    list_filter = ["status", "kind", HasErrorFilter, "created_at"]
    search_fields = ["=public_id", "text"]
    fields = [
        "public_id",
        "chat_id",
        "kind",
        "status_shown",
        "attempts",
        "next_attempt",
        "claimed",
        "last_error",
        "error_type",
        "telegram_message_id",
        "created",
        "sent",
        "text",
        "buttons",
        "revision",
        "edit_due",
        "edit_attempts",
        "edit_error",
        "edited",
    ]
    readonly_fields = fields
    actions = ["requeue"]

    edited = moment_field("edited_at", "Last edited in Telegram")

    @admin.display(description="Text")
    def text_shown(self, message):
        return truncated_html(message.text, chars=60)

    def has_requeue_permission(self, request):
        return request.user.has_perm("notifications.requeue_telegrammessage")

    @admin.action(description="Requeue selected failed messages", permissions=["requeue"])
    def requeue(self, request, queryset):
        requeued = [message for message in queryset.filter(status=Status.FAILED) if telegram_requeue(message=message)]
        said = ", ".join(f"{message.kind} {message.public_id}" for message in requeued)
        self.message_user(
            request,
            f"Requeued {counted(len(requeued), 'failed Telegram message')}{': ' + said if said else ''}.",
            messages.SUCCESS if requeued else messages.WARNING,
        )


@admin.register(Suppression)
class SuppressionAdmin(ReadOnlyAdmin):
    """Addresses no email goes to (a hard bounce or a complaint came back); removing one lets mail to it go again.

    Written only by the provider's webhook; removal needs ``notifications.delete_suppression`` and is audited.
    """

    list_display = ["address", "reason_shown", "created", "provider", "description_shown"]
    list_filter = ["reason", "created_at"]
    search_fields = ["=address"]
    search_help_text = "Exact address."
    date_hierarchy = "created_at"
    fields = ["address", "reason_shown", "created", "provider", "event_id", "description"]
    readonly_fields = fields

    created = moment_field("created_at", "Suppressed")

    @admin.display(description="Reason", ordering="reason")
    def reason_shown(self, suppression):
        return badge_html(suppression.reason, suppression.get_reason_display())

    @admin.display(description="What the provider said")
    def description_shown(self, suppression):
        return truncated_html(suppression.description, chars=60)

    def get_search_results(self, request, queryset, search_term):
        return super().get_search_results(request, queryset, search_term.strip().lower())

    def has_delete_permission(self, request, obj=None):
        return request.user.has_perm("notifications.delete_suppression")

    def delete_model(self, request, obj):
        suppression_remove(suppression=obj, by=actor_user(request.user))

    def delete_queryset(self, request, queryset):
        by = actor_user(request.user)
        for suppression in queryset:
            suppression_remove(suppression=suppression, by=by)


@admin.register(DeliveryFeedback)
class DeliveryFeedbackAdmin(ReadOnlyAdmin):
    """Every tracking event of the mail provider's webhook, as it was received."""

    list_display = ["received", "event_type", "recipient", "outcome_shown", "email_link", "provider"]
    list_filter = ["event_type", "outcome", "provider", "received_at"]
    search_fields = ["=recipient", "=event_id", "=message_id"]
    search_help_text = "Exact recipient, event id or provider message id."
    date_hierarchy = "received_at"
    list_select_related = ["email"]
    show_full_result_count = False
    fields = [
        "provider",
        "event_id",
        "event_type",
        "reject_reason",
        "recipient",
        "outcome_shown",
        "email_link",
        "message_id",
        "description",
        "occurred",
        "received",
    ]
    readonly_fields = fields

    received = moment_field("received_at", "Received")
    occurred = moment_field("occurred_at", "Occurred (provider's time)")

    @admin.display(description="Outcome", ordering="outcome")
    def outcome_shown(self, feedback):
        return badge_html(feedback.outcome, feedback.get_outcome_display())

    @admin.display(description="Email")
    def email_link(self, feedback):
        return record_link(feedback.email, feedback.email.public_id if feedback.email else "")


@admin.register(TelegramUpdate)
class TelegramUpdateAdmin(ReadOnlyAdmin):
    """Every authentic update Telegram posted to the webhook (button presses), with what became of it."""

    list_display = ["received", "update_id", "action", "target", "by", "outcome_shown", "reason", "message_link"]
    list_filter = ["outcome", "reason", "received_at"]
    search_fields = ["=update_id", "=target", "=by", "=chat_id", "=user_id"]
    search_help_text = "Exact update id, target, by (telegram:<user id>), chat id or user id."
    date_hierarchy = "received_at"
    list_select_related = ["message"]
    show_full_result_count = False
    fields = [
        "update_id",
        "kind",
        "outcome_shown",
        "reason",
        "action",
        "target",
        "by",
        "chat_id",
        "user_id",
        "message_link",
        "telegram_message_id",
        "callback_data",
        "notice",
        "answered",
        "answer_error",
        "received",
    ]
    readonly_fields = fields

    received = moment_field("received_at", "Received")
    answered = moment_field("answered_at", "Notice shown")

    @admin.display(description="Outcome", ordering="outcome")
    def outcome_shown(self, update):
        return badge_html(update.outcome, update.get_outcome_display())

    @admin.display(description="Message")
    def message_link(self, update):
        return record_link(update.message, update.message.public_id if update.message else "")
