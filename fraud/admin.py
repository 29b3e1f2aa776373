from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from echopilot.actors import actor_user
from echopilot.admin import ExactSearchMixin, ReadOnlyAdmin
from echopilot.admin_display import address_short, badge_html, counted, json_html, moment_field
from echopilot.exceptions import Conflict, Invalid
from echopilot.money import money_format
from fraud import selectors
from fraud.models import FraudCheck, FraudReview, ListEntry
from fraud.reasons import check_reason_text
from fraud.services import fraud_review_act


def _card_key(fingerprint: str) -> str:
    return selectors.card_key_for(email="", card_fingerprint=fingerprint)


@admin.register(FraudCheck)
class FraudCheckAdmin(ExactSearchMixin, ReadOnlyAdmin):
    """Checks are machine records: read-only, filterable, searchable by id and email."""

    list_display = ["check_id", "created", "email", "amount_shown", "decision_shown", "reason_shown"]
    list_filter = ["decision", "rule", "card_type", "currency", "created_at"]
    # Each an indexed exact match; the card is found through card_key ("card:<fingerprint>",
    # index fraud_card_time), as card_fingerprint itself has no index.
    exact_search = {"email": str.lower, "check_id": None, "payment_ref": None, "card_key": _card_key}
    search_help_text = "Exact email, check id (fc_…), payment id or card fingerprint."
    date_hierarchy = "created_at"
    fields = [
        "check_id",
        "created",
        "email",
        "amount_shown",
        "card",
        "decision_shown",
        "reason_shown",
        "rule",
        "observed_shown",
        "limit",
        "ruleset_version",
        "payment_ref",
        "payment",
        "caller_recent_count",
        "caller_daily_total_shown",
        "created_by",
    ]
    readonly_fields = fields
    actions = ["open_review"]

    created = moment_field("created_at", "Created")

    @admin.display(description="Amount", ordering="amount")
    def amount_shown(self, check):
        return money_format(check.amount, check.currency)

    @admin.display(description="Decision", ordering="decision")
    def decision_shown(self, check):
        return badge_html(check.decision, check.get_decision_display())

    @admin.display(description="Reason")
    def reason_shown(self, check):
        return check_reason_text(check)

    @admin.display(description="Card")
    def card(self, check):
        return f"{check.card_type} {check.card_fingerprint}".strip()

    @admin.display(description="Observed")
    def observed_shown(self, check):
        return json_html(check.observed)

    @admin.display(description="Caller's daily total")
    def caller_daily_total_shown(self, check):
        total = check.caller_daily_total
        return "-" if total is None else money_format(total, check.currency)

    def has_review_permission(self, request):
        return request.user.has_perm("fraud.review_fraudcheck")

    @admin.action(description="Open a manual review", permissions=["review"])
    def open_review(self, request, queryset):
        opened, already, by = [], 0, actor_user(request.user)
        for check in queryset:
            try:
                fraud_review_act(check=check, action="open", by=by)
            except Conflict:
                already += 1
                continue
            opened.append(check)
        said = ", ".join(f"{address_short(c.email)}, {money_format(c.amount, c.currency)}" for c in opened)
        text = f"Opened {counted(len(opened), 'review')}{': ' + said if said else ''}."
        if already:
            text += f" {counted(already, 'check')} already had one."
        self.message_user(request, text, messages.SUCCESS if opened else messages.WARNING)


class ReviewActionForm(ActionForm):
    resolution = forms.ChoiceField(choices=[("", "— reason —"), *FraudReview.Resolution.choices], required=False)
    note = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "note"}))


class OpenFirstFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "Open (queue)"), ("closed", "Closed"), ("all", "All")]

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": (self.value() or "open") == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value() or "open"
        if value == "open":
            return queryset.filter(state=FraudReview.State.OPEN)
        if value == "closed":
            return queryset.exclude(state=FraudReview.State.OPEN)
        return queryset


@admin.register(FraudReview)
class FraudReviewAdmin(admin.ModelAdmin):
    """The review queue: open reviews first, newest first."""

    list_display = [
        "opened_at",
        "check_link",
        "email",
        "amount",
        "card",
        "reason",
        "state",
        "opened_reason",
        "closed_by",
    ]
    list_filter = [OpenFirstFilter, "opened_reason", "resolution", "opened_at"]
    search_fields = ["=fraud_check__check_id", "fraud_check__email"]
    list_select_related = ["fraud_check"]
    ordering = ["-opened_at"]
    action_form = ReviewActionForm
    actions = ["approve", "reject"]
    readonly_fields = [
        "check_link",
        "email",
        "amount",
        "card",
        "reason",
        "state",
        "opened_reason",
        "opened_by",
        "opened_at",
        "resolution",
        "note",
        "closed_by",
        "closed_at",
        "history",
    ]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Check", ordering="fraud_check__check_id")
    def check_link(self, review):
        url = reverse("admin:fraud_fraudcheck_change", args=[review.fraud_check.pk])
        return format_html('<a href="{}">{}</a>', url, review.fraud_check.check_id)

    @admin.display(ordering="fraud_check__email")
    def email(self, review):
        return review.fraud_check.email

    @admin.display(ordering="fraud_check__amount")
    def amount(self, review):
        return f"{review.fraud_check.amount} {review.fraud_check.currency.upper()}"

    @admin.display()
    def card(self, review):
        check = review.fraud_check
        return f"{check.card_type} {check.card_fingerprint}".strip()

    @admin.display()
    def reason(self, review):
        return review.fraud_check.reason

    @admin.display(description="Customer's recent history")
    def history(self, review):
        check = review.fraud_check
        rows = format_html_join(
            "",
            '<li><a href="{}">{}</a> {} — {} {} — {} ({})</li>',
            (
                (
                    reverse("admin:fraud_fraudcheck_change", args=[other.pk]),
                    other.check_id,
                    other.created_at.strftime("%Y-%m-%d %H:%M"),
                    other.amount,
                    other.currency.upper(),
                    other.decision,
                    other.reason,
                )
                for other in selectors.customer_history(email=check.email, exclude_pk=check.pk)
            ),
        )
        query = "?" + urlencode({"q": check.email})
        payments = reverse("admin:payments_payment_changelist") + query
        checks = reverse("admin:fraud_fraudcheck_changelist") + query
        return format_html(
            '<ul>{}</ul><a href="{}">All checks of this customer</a> · <a href="{}">Their payments</a>',
            rows,
            checks,
            payments,
        )

    def _close(self, request, queryset, action):
        resolution = request.POST.get("resolution", "")
        note = request.POST.get("note", "")[:2000]
        by = actor_user(request.user)
        closed = skipped = 0
        # One read for all selected reviews and their checks; then one conditional UPDATE each.
        for review in queryset.select_related("fraud_check"):
            try:
                fraud_review_act(check=review.fraud_check, action=action, resolution=resolution, note=note, by=by)
            except Invalid as refused:  # the same for every review: the first one says it
                self.message_user(request, refused.message, messages.ERROR)
                return
            except Conflict:
                skipped += 1
            else:
                closed += 1
        level = messages.SUCCESS if not skipped else messages.WARNING
        self.message_user(request, f"Closed {closed} review(s); {skipped} were already closed.", level)

    def has_review_permission(self, request):
        return request.user.has_perm("fraud.review_fraudcheck")

    @admin.action(description="Approve selected reviews", permissions=["review"])
    def approve(self, request, queryset):
        self._close(request, queryset, "approve")

    @admin.action(description="Reject selected reviews (choose a reason)", permissions=["review"])
    def reject(self, request, queryset):
        self._close(request, queryset, "reject")


@admin.register(ListEntry)
class ListEntryAdmin(admin.ModelAdmin):
    list_display = ["action", "kind", "value", "reason", "created_by", "created_at", "expires_at"]
    list_filter = ["action", "kind"]
    search_fields = ["value", "reason"]
    list_select_related = ["created_by"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def changelist_view(self, request, extra_context=None):
        allow = settings.GUARD_EMAIL_ALLOW
        if allow:
            self.message_user(
                request, f"Also always allowed, from GUARD_EMAIL_ALLOW (read-only): {', '.join(allow)}", messages.INFO
            )
        return super().changelist_view(request, extra_context)
