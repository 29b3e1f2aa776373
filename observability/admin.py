from django import forms
from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from echopilot.actors import actor_user
from echopilot.admin import ReadOnlyAdmin
from echopilot.admin_display import badge_html, json_html, moment_field, moment_html
from observability.alerts import alerts_silence_refresh
from observability.models import WEEKDAYS, Alert, AlertTransition, MaintenanceWindow, Silence, Snapshot
from observability.rules import RULE_NAMES, time_zone_known


def _number(value: float | None) -> str:
    """An alert's observed value or threshold for people: "98", "522.17", "1,234,567" (not "98.0" or 1.2e+06)."""
    return "-" if value is None else f"{value:,.2f}".rstrip("0").rstrip(".")


@admin.register(Snapshot)
class SnapshotAdmin(ReadOnlyAdmin):
    list_display = ["taken", "overall", "governance", "warnings"]
    date_hierarchy = "taken_at"
    fields = ["taken", "overall", "governance", "warnings", "data_shown"]
    readonly_fields = fields

    taken = moment_field("taken_at", "Taken")

    @admin.display(description="Overall")
    def overall(self, snapshot):
        overall = str(snapshot.data.get("health", {}).get("overall", "-"))
        return badge_html(overall, overall)

    @admin.display(description="Governance")
    def governance(self, snapshot):
        return snapshot.data.get("health", {}).get("governance_status")

    @admin.display(description="Warnings")
    def warnings(self, snapshot):
        return "; ".join(snapshot.data.get("health", {}).get("ops_warnings", []))

    @admin.display(description="Snapshot")
    def data_shown(self, snapshot):
        return json_html(snapshot.data)


class AlertTransitionInline(admin.TabularInline):
    """An alert's changes of state, oldest first: machine records, shown to whoever may view the alert."""

    model = AlertTransition
    extra = 0
    can_delete = False
    ordering = ["at", "id"]
    fields = ["when", "from_state", "to_state", "by", "note"]
    readonly_fields = fields

    when = moment_field("at", "When")

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("observability.view_alert")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def handling_html(alert: Alert) -> str:
    """Who has it: "acknowledged by telegram:42" and/or "silenced by <what>" as badges; "" when nobody."""
    parts = []
    if alert.acknowledged_by and alert.status == Alert.Status.FIRING:
        parts.append(badge_html("acknowledged", f"acknowledged by {alert.acknowledged_by}"))
    if alert.silenced_by:
        parts.append(format_html('<span title="{}">{}</span>', alert.silenced_by, badge_html("silenced", "silenced")))
    return mark_safe(" ".join(parts))  # noqa: S308 - every part is format_html


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ["name", "status_shown", "handling", "severity", "summary", "started", "resolved"]
    list_filter = ["status", "severity", "rule"]
    search_fields = ["rule", "fingerprint"]
    fields = [
        "name",
        "status_shown",
        "severity",
        "summary",
        "observed_shown",
        "threshold_shown",
        "pending",
        "started",
        "cleared",
        "resolved",
        "acknowledged",
        "silenced_by",
        "last_evaluated",
        "last_notified",
    ]
    readonly_fields = fields
    inlines = [AlertTransitionInline]

    pending = moment_field("pending_since", "Pending since")
    started = moment_field("started_at", "Firing since")
    cleared = moment_field("cleared_at", "Condition cleared (kept firing)")
    last_evaluated = moment_field("last_evaluated_at", "Last evaluated")
    last_notified = moment_field("last_notified_at", "Last notified")
    resolved = moment_field("resolved_at", "Resolved")

    @admin.display(description="Alert", ordering="rule")
    def name(self, alert):
        return alert.name

    @admin.display(description="Observed")
    def observed_shown(self, alert):
        return _number(alert.observed)

    @admin.display(description="Threshold")
    def threshold_shown(self, alert):
        return _number(alert.threshold)

    @admin.display(description="Status", ordering="status")
    def status_shown(self, alert):
        return badge_html(alert.status, alert.get_status_display())

    @admin.display(description="Handled")
    def handling(self, alert):
        return handling_html(alert)

    @admin.display(description="Acknowledged")
    def acknowledged(self, alert):
        if not alert.acknowledged_at:
            return "-"
        return format_html("by {} {}", alert.acknowledged_by, moment_html(alert.acknowledged_at))


def _refresh_silenced(request) -> None:
    alerts_silence_refresh(by=actor_user(request.user))


class SilencesChangeAlerts:
    """Adding, changing or deleting a silence or window marks the alerts it covers at once (not at the next
    evaluation); the admin's author is the signed-in user."""

    def save_model(self, request, obj, form, change):
        if not change:
            obj.author = request.user
            if hasattr(obj, "by"):
                obj.by = actor_user(request.user)
        super().save_model(request, obj, form, change)
        _refresh_silenced(request)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        _refresh_silenced(request)

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        _refresh_silenced(request)


@admin.register(Silence)
class SilenceAdmin(SilencesChangeAlerts, admin.ModelAdmin):
    list_display = ["rule", "fingerprint", "until", "reason", "set_by", "created_at"]
    list_filter = ["rule"]
    list_select_related = ["author"]

    @admin.display(description="By")
    def set_by(self, silence):
        return silence.by or silence.author or "-"


RULE_CHOICES = [("", "every rule"), *((name, name) for name in RULE_NAMES)]


class MaintenanceWindowForm(forms.ModelForm):
    rule = forms.ChoiceField(choices=RULE_CHOICES, required=False)
    weekdays = forms.TypedMultipleChoiceField(
        choices=list(enumerate(WEEKDAYS)), coerce=int, widget=forms.CheckboxSelectMultiple, label="Weekdays"
    )
    time_zone = forms.CharField(
        max_length=64, initial="UTC", help_text="IANA name, e.g. Europe/Berlin, America/New_York, UTC"
    )

    class Meta:
        model = MaintenanceWindow
        fields = ["rule", "weekdays", "start", "end", "time_zone", "comment"]
        # The browser's own time field, not the admin's "Now" shortcut: that reads the browser's clock, and the
        # window's times are wall-clock times of its own zone.
        widgets = {
            "start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }

    def clean_time_zone(self):
        value = self.cleaned_data["time_zone"].strip()
        if not time_zone_known(value):
            raise forms.ValidationError("Not an IANA time zone; e.g. Europe/Berlin, America/New_York, UTC.")
        return value


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(SilencesChangeAlerts, admin.ModelAdmin):
    """Recurring silences, kept by operators (``observability.*_maintenancewindow``)."""

    form = MaintenanceWindowForm
    list_display = ["shown", "comment", "open_now", "author", "created_at"]
    list_filter = ["rule", "time_zone"]
    list_select_related = ["author"]
    search_fields = ["comment", "rule"]

    class Media:
        css = {"all": ["echopilot/records.css"]}

    @admin.display(description="Window")
    def shown(self, window):
        return str(window)

    @admin.display(description="Open now", boolean=True)
    def open_now(self, window):
        return window.covers(window.rule, timezone.now())
