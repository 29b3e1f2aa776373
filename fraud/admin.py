from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from echopilot.actors import actor_user
from echopilot.admin import ExactSearchMixin, ReadOnlyAdmin
from echopilot.admin_display import address_short, badge_html, counted, json_html, moment_field
from echopilot.exceptions import Conflict, Invalid
from echopilot.money import money_format
from echopilot.timefmt import duration_format, moment_format
from fraud import (
    admin_rulesets,  # noqa: F401 (registers the rule set and backtest pages)
    selectors,
)
from fraud.models import FraudCheck, FraudReview, ListEntry
from fraud.reasons import check_reason_text, reason_text
from fraud.rulesets import current_config
from fraud.services import fraud_review_act, fraud_review_claim


def _card_key(fingerprint: str) -> str:
    return selectors.card_key_for(email_key="", card_fingerprint=fingerprint)


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
        "shadow_shown",
        "payment_ref",
        "payment",
        "caller_recent_count",
        "caller_daily_total_shown",
        "created_by",
    ]
    readonly_fields = fields
    actions = ["open_review"]

    def get_fields(self, request, obj=None):
        # What the version in shadow would have decided, on the checks that evaluated one.
        if obj is None or not obj.shadow_version:
            return [name for name in self.fields if name != "shadow_shown"]
        return self.fields

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

    @admin.display(description="In shadow")
    def shadow_shown(self, check):
        return format_html(
            "{} would have decided {}: {}",
            check.shadow_version,
            badge_html(check.shadow_decision, check.get_shadow_decision_display()),
            reason_text(check.shadow_reason, amount=check.amount, currency=check.currency),
        )

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


def _evidence(check: FraudCheck) -> list[tuple[str, str, str]]:
    """What the rule compared, then everything else the check counted: (what, observed, limit) rows."""
    observed, currency = check.observed or {}, check.currency

    def amount(value) -> str:
        try:
            return money_format(Decimal(str(value)), currency)
        except (InvalidOperation, ValueError):
            return str(value)

    shown = set()
    if check.rule == "review_amount":
        rows = [("Amount of this payment", money_format(check.amount, currency), amount(check.limit))]
    elif check.rule == "velocity":
        rows = [
            (
                "Payments with this card in the past hour, before this one",
                str(observed.get("recent_count", "")),
                check.limit,
            )
        ]
        shown = {"recent_count"}
    elif check.rule == "daily_amount":
        try:
            total = money_format(Decimal(str(observed.get("daily_total", "0"))) + check.amount, currency)
        except (InvalidOperation, ValueError):
            total = str(observed.get("daily_total", ""))
        rows = [("Today's total with this email, this payment included", total, amount(check.limit))]
        shown = {"daily_total"}
    elif check.rule == "prepaid":
        rows = [("Card type", check.card_type, check.limit or "prepaid cards blocked")]
    else:
        rows = []
    for key, value in observed.items():
        if key in shown:
            continue
        text = amount(value) if str(key).endswith("daily_total") else str(value)
        rows.append((_OBSERVED.get(key, str(key).replace("_", " ")), text, ""))
    return rows


_OBSERVED = {
    "recent_count": "Checks of this card in the past hour",
    "daily_total": "Today's total with this email before this payment",
    "ours_recent_count": "Checks of this card in the past hour, by our count",
    "ours_daily_total": "Today's total with this email, by our count",
    "list": "List",
    "card_type": "Card type",
}


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


class QueueChangeList(ChangeList):
    """The queue's page of reviews, each with its one-line history, read in two grouped queries for the page."""

    TITLES = {
        "open": "Review queue: open reviews, longest waiting first",
        "closed": "Closed reviews",
        "all": "All reviews",
    }

    def __init__(self, request, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.title = self.TITLES.get(request.GET.get("state", "open"), self.title)

    def get_results(self, request):
        super().get_results(request)
        self.result_list = list(self.result_list)
        histories = selectors.review_queue_histories(
            checks=[review.fraud_check for review in self.result_list], now=timezone.now()
        )
        for review in self.result_list:
            review.queue_history = histories[review.fraud_check_id]


class DecisionForm(forms.Form):
    """The review page's one form: Approve or Reject, a reason (a rejection needs one) and a note."""

    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    resolution = forms.ChoiceField(
        label="Reason",
        choices=[("", "— choose a reason —"), *FraudReview.Resolution.choices],
        required=False,
        widget=forms.Select(attrs={"required": True}),  # for Reject; Approve posts without validation
    )
    note = forms.CharField(required=False, strip=False, widget=forms.Textarea(attrs={"rows": 2}))


@admin.register(FraudReview)
class FraudReviewAdmin(admin.ModelAdmin):
    """The review desk: the queue (open reviews, oldest waiting first) and a decision page per review.

    Reviews are decided one at a time on their page, with the evidence and the customer's history in
    view; the queue has no bulk actions. Opening an open review claims it for ``CLAIM_FOR``.
    """

    list_display = ["waiting", "amount", "customer", "reason", "history", "state_badge"]
    list_display_links = ["customer"]
    list_filter = [OpenFirstFilter, "opened_reason", "resolution", "opened_at"]
    search_fields = ["=fraud_check__check_id", "=fraud_check__email"]
    search_help_text = "Exact email or check id (fc_…)."
    list_select_related = ["fraud_check"]
    actions = None
    change_form_template = "admin/fraud/fraudreview/decide.html"

    class Media:
        css = {"all": ["echopilot/records.css", "fraud/desk.css"]}
        js = ["fraud/review.js"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # decisions go through fraud_review_act, never a form over the row

    def has_delete_permission(self, request, obj=None):
        return False

    def has_review_permission(self, request):
        return request.user.has_perm("fraud.review_fraudcheck")

    def get_ordering(self, request):
        # The queue: who has waited longest comes first. Closed reviews: the latest first.
        if request.GET.get("state", "open") == "open":
            return ["opened_at", "id"]
        return ["-opened_at", "-id"]

    def get_changelist(self, request, **kwargs):
        return QueueChangeList

    # The queue's columns.

    @admin.display(description="Waiting", ordering="opened_at")
    def waiting(self, review):
        end = review.closed_at or timezone.now()
        return format_html(
            '<span title="opened {}">{}</span>',
            moment_format(review.opened_at),
            duration_format(end - review.opened_at),
        )

    @admin.display(ordering="fraud_check__amount")
    def amount(self, review):
        return money_format(review.fraud_check.amount, review.fraud_check.currency)

    @admin.display(description="Email and card", ordering="fraud_check__email")
    def customer(self, review):
        check = review.fraud_check
        card = f"{check.card_type} {check.card_fingerprint}".strip()
        return format_html('{}<span class="desk-sub">{}</span>', check.email, card)

    @admin.display()
    def reason(self, review):
        return check_reason_text(review.fraud_check)

    @admin.display()
    def history(self, review):
        line = review.queue_history
        checks = "check" if line.checks_24h == 1 else "checks"
        payments = "payment" if line.payments == 1 else "payments"
        refunds = "refund" if line.refunds == 1 else "refunds"
        return f"{line.checks_24h} {checks} in 24\u00a0h · {line.payments} {payments} · {line.refunds} {refunds}"

    @admin.display(description="State", ordering="state")
    def state_badge(self, review):
        holder = selectors.review_claim_holder(review, now=timezone.now())
        badge = badge_html(review.state, review.get_state_display())
        if holder:
            return format_html(
                '{}<span class="desk-sub">being reviewed by {}</span>', badge, holder.removeprefix("user:")
            )
        return badge

    # The decision page.

    def change_view(self, request, object_id, form_url="", extra_context=None):
        review = self.get_object(request, unquote(object_id))
        if review is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, review):
            raise PermissionDenied
        may_decide = self.has_review_permission(request)
        by, now = actor_user(request.user), timezone.now()
        form = DecisionForm()
        if request.method == "POST":
            if not may_decide:
                raise PermissionDenied
            if "takeover" in request.POST:
                return self._take_over(request, review, by)
            form = DecisionForm(request.POST)
            if form.is_valid():
                answer = self._decide(request, review, by, form.cleaned_data)
                if answer:
                    return answer
        elif may_decide and review.state == FraudReview.State.OPEN:
            fraud_review_claim(review=review, by=by, now=now)
        return self._decision_page(request, review, form, may_decide, by)

    def _decision_page(self, request, review, form, may_decide, by):
        now = timezone.now()
        check = review.fraud_check
        holder = selectors.review_claim_holder(review, now=now)
        is_open = review.state == FraudReview.State.OPEN
        following = selectors.review_next_open(after=review, by=by, now=now)
        customer = selectors.review_customer(check=check, now=now)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Review of {check.check_id}",
            "subtitle": None,
            "opts": self.opts,
            "original": review,
            "review": review,
            "check": check,
            "media": self.media,
            "reason_text": check_reason_text(check),
            "evidence": _evidence(check),
            "customer": customer,
            # Times and amounts are shown by the template's filters (moment, ago, money).
            "checks": [
                {
                    "check": other,
                    "url": reverse("admin:fraud_fraudcheck_change", args=[other.pk]),
                    "reason": check_reason_text(other),
                }
                for other in customer.checks
            ],
            "payments": [
                {"payment": payment, "url": reverse("admin:payments_payment_change", args=[payment.pk])}
                for payment in customer.payments
            ],
            "closed_by": review.closed_by.removeprefix("user:"),
            "holder": holder.removeprefix("user:"),
            "mine": holder == by,
            "may_decide": may_decide and is_open and holder == by,
            "may_take_over": may_decide and is_open and holder and holder != by,
            "form": form,
            "next_review": following,
            "queue_url": reverse("admin:fraud_fraudreview_changelist"),
        }
        return TemplateResponse(request, self.change_form_template, context)

    def _take_over(self, request, review, by):
        if fraud_review_claim(review=review, by=by, takeover=True):
            self.message_user(request, "You took this review over; it is yours for the next 10 minutes.")
        else:
            self.message_user(request, "The claim changed meanwhile; see who holds it now.", messages.WARNING)
        return HttpResponseRedirect(request.path)

    def _decide(self, request, review, by, data):
        """Close the review; on success the answer is a redirect to the next open review (or the queue)."""
        if not fraud_review_claim(review=review, by=by):
            holder = selectors.review_claim_holder(review, now=timezone.now())
            if review.state == FraudReview.State.OPEN:
                self.message_user(
                    request,
                    f"Being reviewed by {holder.removeprefix('user:')}; take it over to decide.",
                    messages.ERROR,
                )
                return HttpResponseRedirect(request.path)
        check = review.fraud_check
        try:
            fraud_review_act(
                check=check, action=data["decision"], resolution=data["resolution"], note=data["note"], by=by
            )
        except Invalid as refused:
            self.message_user(request, refused.message, messages.ERROR)
            return None
        except Conflict as refused:
            self.message_user(request, refused.message, messages.WARNING)
            return HttpResponseRedirect(request.path)
        done = "Approved" if review.state == FraudReview.State.APPROVED else "Rejected"
        text = (
            f"{done} {counted(1, 'review')}: {address_short(check.email)}, {money_format(check.amount, check.currency)}"
        )
        if review.resolution:
            text += f" — {review.get_resolution_display().lower()}"
        self.message_user(request, text, messages.SUCCESS)
        following = selectors.review_next_open(after=review, by=by, now=timezone.now())
        if following is None:
            self.message_user(request, "No open reviews are left.", messages.INFO)
            return HttpResponseRedirect(reverse("admin:fraud_fraudreview_changelist"))
        return HttpResponseRedirect(reverse("admin:fraud_fraudreview_change", args=[following.pk]))


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
        rules = current_config()
        if rules.email_allow:
            source = f"rule set {rules.label}" if rules.label else "GUARD_EMAIL_ALLOW"
            listed = ", ".join(sorted(rules.email_allow))
            self.message_user(request, f"Also always allowed, from {source} (read-only): {listed}", messages.INFO)
        return super().changelist_view(request, extra_context)
