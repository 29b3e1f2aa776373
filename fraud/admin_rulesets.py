"""The rule sets in the admin: versions of the fraud guard's rules, their backtests and shadow runs (issue #15).

The rule set pages are thin: every step of the lifecycle is a service of ``fraud.rulesets`` (draft,
update, shadow start/stop, activate or ask for it, approve, withdraw, backtest) called from a form or
a button. Each button is a POST to its own admin URL behind its own permission; a user without it
gets 403 even with a forged POST. A refusal of the lifecycle (``Conflict``) is an error message on the
page, never a 500. Backtest runs are machine records: read-only.
"""

import re
from datetime import timedelta
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from echopilot.actors import actor_user
from echopilot.admin import ReadOnlyAdmin
from echopilot.admin_display import EMPTY, badge_html, json_html, moment_field, moment_html, truncated_html
from echopilot.exceptions import Conflict, Invalid, NotFound
from fraud import rulesets
from fraud.models import BacktestRun, FraudCheck, RuleSet
from fraud.rules import RuleConfig

BACKTEST_DAYS = (7, 30, 90)
OUTCOMES = ("allow", "review", "block")
MAX_INT = 2_147_483_647  # what both databases store in a PositiveIntegerField
MAX_LIST = 500  # entries in an email or domain list
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")

# The card-testing signals: each off while its limit is 0.
SIGNALS = {"max_cards_per_email_day", "max_emails_per_card_day", "max_declines_per_card_hour", "max_per_ip_hour"}
# What each rule is called on the pages, in RuleConfig's order.
RULE_NAMES = {name: str(RuleSet._meta.get_field(name).verbose_name) for name in rulesets.RULE_FIELDS}


def who(by: str) -> str:
    """An actor label as people read it: "ann" for "user:ann"."""
    return by.removeprefix("user:") if by else ""


def shown_value(name: str, value) -> str:
    """A rule's value as the pages show it: yes/no, amounts with two decimals, lists comma-separated."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(sorted(value)) or "none"
    if name in SIGNALS and value == 0:
        return "0 (off)"
    return str(value)


def compared(config: RuleConfig, in_force: RuleConfig) -> list[dict]:
    """Each rule of ``config`` beside the one in force, marked where they differ."""
    mine, theirs = config.as_dict(), in_force.as_dict()
    return [
        {
            "name": RULE_NAMES[name],
            "value": shown_value(name, mine[name]),
            "in_force": shown_value(name, theirs[name]),
            "differs": mine[name] != theirs[name],
        }
        for name in rulesets.RULE_FIELDS
    ]


class ListField(forms.CharField):
    """A list of emails or domains typed one per line (or comma-separated); stored sorted, lowercase, unique."""

    widget = forms.Textarea(attrs={"rows": 3})

    def __init__(self, *, kind: str, **kwargs):
        self.kind = kind
        super().__init__(required=False, **kwargs)

    def prepare_value(self, value):
        if isinstance(value, list | tuple | set | frozenset):
            return "\n".join(sorted(value))
        return value

    def clean(self, value):
        text = super().clean(value) or ""
        items = sorted({item.strip().lower() for item in re.split(r"[\s,]+", text) if item.strip()})
        if len(items) > MAX_LIST:
            raise ValidationError(f"At most {MAX_LIST} entries; this has {len(items)}.")
        for item in items:
            if self.kind == "email":
                try:
                    validate_email(item)
                except ValidationError:
                    raise ValidationError(f"{item[:80]!r} is not an email address.") from None
            elif not DOMAIN.match(item):
                raise ValidationError(f"{item[:80]!r} is not a domain name.")
        return items


class RuleSetForm(forms.ModelForm):
    """A draft's note and rules; every threshold's help says the value in force."""

    email_allow = ListField(kind="email", label="Always allowed emails", help_text="One per line.")
    dot_domains = ListField(kind="domain", label="Domains that ignore dots", help_text="One per line.")

    class Meta:
        model = RuleSet
        fields = ["note", *rulesets.RULE_FIELDS]

    def __init__(self, *args, in_force: RuleConfig | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        for name in rulesets.RULE_FIELDS:
            field = self.fields.get(name)
            if field is None:  # a frozen version's page: its note only
                continue
            if isinstance(field, forms.DecimalField):  # (a DecimalField is an IntegerField too: first)
                field = self.fields[name] = forms.DecimalField(
                    label=field.label, min_value=Decimal("0"), max_digits=14, decimal_places=2
                )
            elif isinstance(field, forms.IntegerField):  # 0 turns a signal off; checks per card start at 1
                field = self.fields[name] = forms.IntegerField(
                    label=field.label, min_value=1 if name == "max_per_hour" else 0, max_value=MAX_INT
                )
            if in_force is not None:
                value = shown_value(name, in_force.as_dict()[name])
                field.help_text = " ".join(
                    part
                    for part in (
                        f"In force ({_version_name(in_force)}): {value}.",
                        "0 turns this signal off." if name in SIGNALS else "",
                        field.help_text,
                    )
                    if part
                )

    def clean_note(self):
        note = self.cleaned_data["note"].strip()
        if CONTROL.search(note):
            raise ValidationError("The note cannot hold control characters (line breaks, tabs).")
        if not note:
            raise ValidationError("Say what this version changes, and why.")
        return note


def _version_name(config: RuleConfig) -> str:
    return config.label or "v1, the GUARD_* settings"


def _in_force() -> dict:
    """What decides now, for the panels: the active version (or version 1, the settings) and the one in shadow."""
    active = RuleSet.objects.filter(state=RuleSet.State.ACTIVE).first()
    shadow = RuleSet.objects.filter(shadow=True).first()
    config = rulesets.ruleset_config(active) if active else RuleConfig.from_settings()
    return {
        "active": active,
        "active_by": who(active.activated_by) if active else "",
        "approved_by": who(active.approved_by) if active else "",
        "config": config,
        "settings_rules": compared(config, config) if not active else None,
        "shadow": shadow,
        "shadow_by": who(shadow.shadow_by) if shadow else "",
    }


@admin.register(RuleSet)
class RuleSetAdmin(admin.ModelAdmin):
    """Versions of the rules: the list with what is in force above it, a draft form, and each version's page
    with its buttons, its latest backtest and its agreement with the live decisions while it ran in shadow."""

    form = RuleSetForm
    list_display = ["version_shown", "state_shown", "note_shown", "based_on_shown", "created", "activated"]
    list_display_links = ["version_shown"]
    list_filter = ["state", "shadow"]
    search_fields = ["note"]
    change_form_template = "admin/fraud/ruleset/change_form.html"
    change_list_template = "admin/fraud/ruleset/change_list.html"
    actions = None  # no bulk delete: only an editable draft is deleted, on its own page

    class Media:
        css = {"all": ["echopilot/records.css", "fraud/rulesets.css"]}

    # The list.

    @admin.display(description="Version", ordering="version")
    def version_shown(self, ruleset):
        return ruleset.label

    @admin.display(description="State", ordering="state")
    def state_shown(self, ruleset):
        badge = badge_html(ruleset.state, ruleset.get_state_display())
        if ruleset.shadow:
            return format_html("{} {}", badge, badge_html("shadow", "in shadow"))
        return badge

    @admin.display(description="Note")
    def note_shown(self, ruleset):
        return truncated_html(ruleset.note, 60)

    @admin.display(description="Based on", ordering="based_on")
    def based_on_shown(self, ruleset):
        # The settings' version is a digest ("v1-3cc62a608e"): shown by name, the digest in the title.
        if ruleset.based_on.startswith("v1-"):
            return format_html('<span title="{}">v1 (settings)</span>', ruleset.based_on)
        return ruleset.based_on or EMPTY

    @admin.display(description="Created", ordering="created_at")
    def created(self, ruleset):
        return format_html(
            '{}<span class="rs-sub">by {}</span>', moment_html(ruleset.created_at), who(ruleset.created_by) or EMPTY
        )

    @admin.display(description="Activated", ordering="activated_at")
    def activated(self, ruleset):
        if not ruleset.activated_at:
            return EMPTY
        return format_html(
            '{}<span class="rs-sub">by {}</span>', moment_html(ruleset.activated_at), who(ruleset.activated_by)
        )

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "in_force": _in_force()})

    # Permissions: only a draft that never ran in shadow changes or is deleted.

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or obj.editable)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or obj.editable)

    def get_deleted_objects(self, objs, request):
        # A draft's backtests go with it: they are records of the draft, not something to keep on their own.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        perms_needed.discard(BacktestRun._meta.verbose_name)
        return deleted, counts, perms_needed, protected

    # The form: starts from the rules in force, or from the version being copied.

    def get_fieldsets(self, request, obj=None):
        if obj is not None and not obj.editable:
            return [(None, {"fields": ["note"]})]
        return [
            (None, {"fields": ["note"]}),
            ("Rules", {"fields": list(rulesets.RULE_FIELDS)}),
        ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        base = super().get_form(request, obj, change, **kwargs)
        in_force = rulesets.current_config()

        class Form(base):
            def __init__(self, *args, **inner):
                super().__init__(*args, in_force=in_force, **inner)

        return Form

    def _copied(self, request) -> RuleConfig | None:
        """The version named by ``?copy=`` (1: the settings), or None; NotFound for another."""
        raw = request.GET.get("copy", "")
        if not raw:
            return None
        if not raw.isdigit() or len(raw) > 9:
            raise NotFound("No rule set has that version.", code="not_found")
        if int(raw) == rulesets.ENVIRONMENT:
            return RuleConfig.from_settings()
        return rulesets.ruleset_config(rulesets.ruleset_get(version=int(raw)))

    def get_changeform_initial_data(self, request):
        config = self._copied(request) or rulesets.current_config()
        return {**config.as_dict(), "note": ""}

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in rulesets.RULE_FIELDS}
        by = actor_user(request.user)
        if change:
            rulesets.ruleset_update(ruleset=obj, by=by, note=form.cleaned_data["note"], **values)
            return
        draft = rulesets.ruleset_draft(note=form.cleaned_data["note"], by=by, based_on=self._copied(request), **values)
        obj.pk, obj.version, obj.based_on = draft.pk, draft.version, draft.based_on
        obj._state.adding = False

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (Conflict, Invalid, NotFound) as refused:
            self.message_user(request, f"Not saved: {refused.message}", messages.ERROR)
            if object_id is None:
                return HttpResponseRedirect(reverse("admin:fraud_ruleset_changelist"))
            return HttpResponseRedirect(request.path)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context.update(self._page(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _page(self, request, ruleset) -> dict:
        """Everything the version's page shows beside the form."""
        user = request.user
        in_force = rulesets.current_config()
        if ruleset is None:
            copied = self._copied(request)
            return {"starts_from": _version_name(copied or in_force), "in_force_name": _version_name(in_force)}
        latest = ruleset.backtests.order_by("-created_at", "-id").first()
        done = rulesets.ruleset_backtest_done(ruleset)
        may_activate = user.has_perm("fraud.activate_ruleset")
        return {
            "ruleset": ruleset,
            "in_force_name": _version_name(in_force),
            "rules": compared(rulesets.ruleset_config(ruleset), in_force),
            "people": {
                "created_by": who(ruleset.created_by),
                "shadow_by": who(ruleset.shadow_by),
                "requested_by": who(ruleset.requested_by),
                "activated_by": who(ruleset.activated_by),
                "approved_by": who(ruleset.approved_by),
            },
            "backtest": _backtest_context(latest),
            "refresh": latest is not None and latest.state in (BacktestRun.State.QUEUED, BacktestRun.State.RUNNING),
            "backtest_days": BACKTEST_DAYS,
            "backtests_url": reverse("admin:fraud_backtestrun_changelist") + f"?ruleset__id__exact={ruleset.pk}",
            "agreement": _agreement_context(ruleset) if ruleset.shadow_at else None,
            "may_backtest": user.has_perm("fraud.change_ruleset") and ruleset.state != RuleSet.State.ACTIVE,
            "may_shadow_start": user.has_perm("fraud.change_ruleset")
            and ruleset.state in (RuleSet.State.DRAFT, RuleSet.State.PENDING)
            and not ruleset.shadow,
            "may_shadow_stop": user.has_perm("fraud.change_ruleset") and ruleset.shadow,
            "may_activate": may_activate and ruleset.state in rulesets.ACTIVATABLE,
            "backtest_done": done is not None,
            "approval": settings.GUARD_RULESET_APPROVAL,
            "may_approve": user.has_perm("fraud.approve_ruleset") and ruleset.state == RuleSet.State.PENDING,
            "own_request": ruleset.requested_by == actor_user(user),
            "may_withdraw": may_activate and ruleset.state == RuleSet.State.PENDING,
            "may_copy": user.has_perm("fraud.add_ruleset"),
            "copy_url": reverse("admin:fraud_ruleset_add") + f"?copy={ruleset.version}",
        }

    # The buttons: each a POST to its own URL, behind its own permission.

    def get_urls(self):
        def button(name, permission, act):
            def view(request, object_id):
                return self._button(request, object_id, permission, act)

            return path(
                f"<path:object_id>/{name}/",
                self.admin_site.admin_view(view),
                name=f"fraud_ruleset_{name.replace('-', '_')}",
            )

        return [
            button("backtest", "change_ruleset", self._run_backtest),
            button("shadow-start", "change_ruleset", self._shadow_start),
            button("shadow-stop", "change_ruleset", self._shadow_stop),
            button("activate", "activate_ruleset", self._activate),
            button("approve", "approve_ruleset", self._approve),
            button("withdraw", "activate_ruleset", self._withdraw),
            *super().get_urls(),
        ]

    def _button(self, request, object_id, permission, act):
        if not request.user.has_perm(f"fraud.{permission}"):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        ruleset = self.get_object(request, unquote(object_id))
        if ruleset is None:
            raise Http404("No rule set has this id.")
        try:
            level, text = act(request, ruleset, actor_user(request.user))
        except (Conflict, Invalid, NotFound) as refused:
            level, text = messages.ERROR, f"Not done: {refused.message}"  # (the admin capitalises "v2")
        self.message_user(request, text, level)
        return HttpResponseRedirect(reverse("admin:fraud_ruleset_change", args=[ruleset.pk]))

    def _run_backtest(self, request, ruleset, by):
        days = request.POST.get("days", "")
        if days not in {str(n) for n in BACKTEST_DAYS}:
            return messages.ERROR, "Choose the history to replay: 7, 30 or 90 days."
        since = timezone.now() - timedelta(days=int(days))
        job = rulesets.backtest_job_create(rules=rulesets.ruleset_config(ruleset), since=since, by=by, ruleset=ruleset)
        if job.state == BacktestRun.State.DONE:
            changed = job.report["changed"]
            return messages.SUCCESS, (
                f"Backtest of {ruleset.label} on the past {days} days: {job.checks} checks replayed, "
                f"{changed} decision{'s' if changed != 1 else ''} would change."
            )
        if job.state == BacktestRun.State.FAILED:
            return messages.ERROR, f"The backtest failed: {job.error}"
        return messages.INFO, (
            f"Backtest of {ruleset.label} on {job.checks} checks queued; this page refreshes itself until it is done."
        )

    def _shadow_start(self, request, ruleset, by):
        rulesets.ruleset_shadow_start(ruleset=ruleset, by=by)
        return messages.SUCCESS, (
            f"Shadow run of {ruleset.label} started: every live check also evaluates it. It can no longer change."
        )

    def _shadow_stop(self, request, ruleset, by):
        rulesets.ruleset_shadow_stop(ruleset=ruleset, by=by)
        return messages.SUCCESS, f"Shadow run of {ruleset.label} stopped."

    def _activate(self, request, ruleset, by):
        rulesets.ruleset_activate(ruleset=ruleset, by=by)
        if ruleset.state == RuleSet.State.PENDING:
            return messages.SUCCESS, f"Activation of {ruleset.label} asked for; another person has to approve it."
        return messages.SUCCESS, f"Now in force: {ruleset.label}. It decides the next check on every node."

    def _approve(self, request, ruleset, by):
        rulesets.ruleset_approve(ruleset=ruleset, by=by)
        return messages.SUCCESS, f"Approved. Now in force: {ruleset.label}. It decides the next check on every node."

    def _withdraw(self, request, ruleset, by):
        rulesets.ruleset_withdraw(ruleset=ruleset, by=by)
        return messages.SUCCESS, f"Activation of {ruleset.label} withdrawn; it is a draft again."


def _percent(ratio: str | None) -> str:
    """A ratio of the report ("0.2500") as "25.0 %"; "—" when undefined."""
    if ratio is None:
        return "—"
    return f"{Decimal(ratio) * 100:.1f} %"


def _check_links(check_ids) -> dict[str, str]:
    """The admin page of each check id, in one query."""
    pks = dict(FraudCheck.objects.filter(check_id__in=list(check_ids)).values_list("check_id", "pk"))
    return {check_id: reverse("admin:fraud_fraudcheck_change", args=[pk]) for check_id, pk in pks.items()}


def _backtest_context(job: BacktestRun | None) -> dict | None:
    """The latest backtest as the page shows it: state, and when done its table, examples, labels and figures."""
    if job is None:
        return None
    shown = {
        "job": job,
        "requested_by": who(job.requested_by),
        "url": reverse("admin:fraud_backtestrun_change", args=[job.pk]),
    }
    report = job.report
    if job.state != BacktestRun.State.DONE or not report:
        return shown
    table = report.get("table", {})
    links = _check_links(example["check_id"] for example in report.get("examples", []))
    current, proposed = report.get("current", {}), report.get("proposed", {})
    figures = [
        (
            "Fraud caught (blocked or reviewed)",
            f"{current.get('fraud_caught', 0)} of {current.get('fraud', 0)} · {_percent(current.get('fraud_caught_rate'))}",
            f"{proposed.get('fraud_caught', 0)} of {proposed.get('fraud', 0)} · {_percent(proposed.get('fraud_caught_rate'))}",
        ),
        (
            "Good payments blocked",
            f"{current.get('good_blocked', 0)} of {current.get('legitimate', 0)} · {_percent(current.get('good_blocked_rate'))}",
            f"{proposed.get('good_blocked', 0)} of {proposed.get('legitimate', 0)} · {_percent(proposed.get('good_blocked_rate'))}",
        ),
        ("Good payments sent to review", str(current.get("good_reviewed", 0)), str(proposed.get("good_reviewed", 0))),
        (
            "Review load (reviews per check)",
            f"{current.get('reviews', 0)} · {_percent(current.get('review_load'))}",
            f"{proposed.get('reviews', 0)} · {_percent(proposed.get('review_load'))}",
        ),
    ]
    rule_rows = []
    for rule in sorted(set(current.get("rules", {})) | set(proposed.get("rules", {}))):
        mine, theirs = proposed.get("rules", {}).get(rule, {}), current.get("rules", {}).get(rule, {})
        rule_rows.append(
            {
                "rule": rule,
                "current_precision": _percent(theirs.get("precision")),
                "current_recall": _percent(theirs.get("recall")),
                "proposed_precision": _percent(mine.get("precision")),
                "proposed_recall": _percent(mine.get("recall")),
            }
        )
    return {
        **shown,
        "report": report,
        "matrix": [
            {
                "before": before,
                "cells": [
                    {"after": after, "count": table.get(f"{before}->{after}", 0), "changed": before != after}
                    for after in OUTCOMES
                ],
            }
            for before in OUTCOMES
        ],
        "examples": [{**example, "url": links.get(example["check_id"])} for example in report.get("examples", [])],
        "figures": figures,
        "rule_rows": rule_rows,
    }


def _agreement_context(ruleset: RuleSet) -> dict:
    agreement = rulesets.ruleset_agreement(ruleset)
    links = {check.check_id: reverse("admin:fraud_fraudcheck_change", args=[check.pk]) for check in agreement.examples}
    return {
        "evaluated": agreement.evaluated,
        "differed": agreement.differed,
        "pairs": agreement.pairs,
        "examples": [{"check": check, "url": links[check.check_id]} for check in agreement.examples],
    }


@admin.register(BacktestRun)
class BacktestRunAdmin(ReadOnlyAdmin):
    """Backtests asked for in the admin or the API: machine records, read-only, with their reports."""

    list_display = ["job_id", "version", "state_shown", "checks", "requested", "created", "finished"]
    list_filter = ["state", "ruleset", "created_at"]
    search_fields = ["=job_id"]
    search_help_text = "Exact job id (bt_…)."
    list_select_related = ["ruleset"]
    fields = [
        "job_id",
        "version",
        "state_shown",
        "since_shown",
        "checks",
        "current_version",
        "requested",
        "created",
        "started",
        "finished",
        "error",
        "rules_shown",
        "report_shown",
    ]
    readonly_fields = fields

    created = moment_field("created_at", "Asked for")
    started = moment_field("started_at", "Started")
    finished = moment_field("finished_at", "Finished")
    since_shown = moment_field("since", "History since")

    @admin.display(description="Version", ordering="ruleset__version")
    def version(self, job):
        if job.ruleset is None:
            return "(proposed through the API)"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:fraud_ruleset_change", args=[job.ruleset.pk]), job.ruleset.label
        )

    @admin.display(description="State", ordering="state")
    def state_shown(self, job):
        return badge_html(job.state, job.get_state_display())

    @admin.display(description="Requested by", ordering="requested_by")
    def requested(self, job):
        return who(job.requested_by) or EMPTY

    @admin.display(description="Rules replayed")
    def rules_shown(self, job):
        return json_html(job.rules)

    @admin.display(description="Report")
    def report_shown(self, job):
        return json_html(job.report) if job.report else EMPTY
