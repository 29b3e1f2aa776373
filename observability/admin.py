from django.contrib import admin

from echopilot.admin import ReadOnlyAdmin
from observability.models import Alert, Silence, Snapshot


@admin.register(Snapshot)
class SnapshotAdmin(ReadOnlyAdmin):
    list_display = ["taken_at", "overall", "governance", "warnings"]
    date_hierarchy = "taken_at"

    @admin.display(description="Overall")
    def overall(self, obj):
        return obj.data.get("health", {}).get("overall")

    @admin.display(description="Governance")
    def governance(self, obj):
        return obj.data.get("health", {}).get("governance_status")

    @admin.display(description="Warnings")
    def warnings(self, obj):
        return "; ".join(obj.data.get("health", {}).get("ops_warnings", []))


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ["rule", "fingerprint", "status", "severity", "observed", "threshold", "started_at", "resolved_at"]
    list_filter = ["status", "severity", "rule"]
    search_fields = ["rule", "fingerprint"]


@admin.register(Silence)
class SilenceAdmin(admin.ModelAdmin):
    list_display = ["rule", "until", "reason", "author", "created_at"]
    list_filter = ["rule"]
    list_select_related = ["author"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.author = request.user
        super().save_model(request, obj, form, change)
