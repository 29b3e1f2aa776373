from django.contrib import admin

from echopilot.admin import ReadOnlyAdmin
from echopilot.admin_display import badge_html, json_html, moment_field
from observability.models import Alert, Silence, Snapshot


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


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ["name", "status_shown", "severity", "summary", "started", "resolved"]
    list_filter = ["status", "severity", "rule"]
    search_fields = ["rule", "fingerprint"]
    fields = [
        "name",
        "status_shown",
        "severity",
        "summary",
        "observed_shown",
        "threshold_shown",
        "started",
        "last_evaluated",
        "last_notified",
        "resolved",
    ]
    readonly_fields = fields

    started = moment_field("started_at", "Started")
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


@admin.register(Silence)
class SilenceAdmin(admin.ModelAdmin):
    list_display = ["rule", "until", "reason", "author", "created_at"]
    list_filter = ["rule"]
    list_select_related = ["author"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.author = request.user
        super().save_model(request, obj, form, change)
