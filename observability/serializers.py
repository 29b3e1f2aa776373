"""Input and output of the observability API."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from echopilot.serializers import MomentField, OutputSerializer, QuerySerializer
from observability.models import Alert


class SnapshotListQuery(QuerySerializer):
    since = MomentField(required=False, help_text="Only snapshots taken at or after (ISO 8601).")
    limit = serializers.IntegerField(default=48, min_value=1, max_value=1000)


class SystemSerializer(serializers.Serializer):
    cpu_percent = serializers.FloatField(
        help_text="Busy percent of all CPUs: over one second (hourly snapshots), or since the taking process's "
        "previous reading (POST, the snapshot taken at start)."
    )
    cpu_sampled = serializers.BooleanField(help_text="Always true: cpu_percent is always a number.")
    load_avg = serializers.ListField(child=serializers.FloatField())
    mem_percent = serializers.FloatField()
    mem_available_gb = serializers.FloatField()
    mem_total_gb = serializers.FloatField()
    cgroup_limit_gb = serializers.FloatField(allow_null=True)
    disk_percent = serializers.FloatField(help_text="The fuller of the database's and LOG_DIR's volumes.")
    disk_free_gb = serializers.FloatField()
    disks = serializers.DictField(child=serializers.DictField())


class ApiProbeSerializer(serializers.Serializer):
    healthy = serializers.BooleanField()
    latency_sec = serializers.FloatField()
    status = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    url = serializers.CharField()


class SchedulerSerializer(serializers.Serializer):
    heartbeat_age_sec = serializers.FloatField(allow_null=True)
    queued = serializers.IntegerField(allow_null=True)
    failed_24h = serializers.IntegerField()


class HealthSerializer(serializers.Serializer):
    governance_status = serializers.ChoiceField(
        choices=["healthy", "warming_up", "at_risk", "failing"],
        help_text="warming_up: the service has not yet run the KPIs' full 24-hour window (a fresh install).",
    )
    ops_warnings = serializers.ListField(child=serializers.CharField())
    overall = serializers.ChoiceField(choices=["healthy", "degraded", "critical"])


class SnapshotSerializer(serializers.Serializer):
    ts = serializers.IntegerField(help_text="Unix seconds.")
    ts_iso = serializers.CharField()
    node = serializers.CharField()
    system = SystemSerializer()
    process = serializers.DictField()
    api = ApiProbeSerializer()
    db = serializers.DictField()
    scheduler = SchedulerSerializer()
    audit = serializers.DictField()
    governance = serializers.DictField(
        help_text=(
            "status, failing, at_risk, warming_up (KPI names) and warming_up_until, and each KPI with value, "
            "target, direction, status (ok, at_risk, failing, no_data, warming_up), warming_up_until and note."
        )
    )
    health = HealthSerializer()


@extend_schema_field(SnapshotSerializer)
class StoredSnapshotField(serializers.Field):
    """A snapshot row's document, answered as it was stored; ``SnapshotSerializer`` documents its shape.

    Not rendered through ``SnapshotSerializer``: that would drop whatever a snapshot taken by another
    version holds beyond it, and fail on what it lacks. The fuzz tests check answers against the schema.
    """

    def to_representation(self, snapshot):
        return snapshot.data


class SnapshotResponse(OutputSerializer):
    """``{"snapshot": Snapshot, "age_sec": ..., "stale": ...}``."""

    snapshot = StoredSnapshotField()
    age_sec = serializers.IntegerField()
    stale = serializers.BooleanField()


class SnapshotListResponse(OutputSerializer):
    """``{"count": ..., "results": [Snapshot, ...]}``."""

    count = serializers.IntegerField()
    results = serializers.ListField(child=StoredSnapshotField())


class AlertSerializer(serializers.ModelSerializer):
    class Meta:
        model = Alert
        fields = [
            "rule",
            "fingerprint",
            "status",
            "severity",
            "summary",
            "observed",
            "threshold",
            "started_at",
            "last_evaluated_at",
            "last_notified_at",
            "resolved_at",
        ]


class AlertListResponse(OutputSerializer):
    """``{"firing": ..., "results": [Alert, ...]}``."""

    firing = serializers.IntegerField()
    results = AlertSerializer(many=True)
