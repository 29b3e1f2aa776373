import hmac

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from drf_spectacular.utils import extend_schema
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from echopilot.errors import error_body
from echopilot.keys import principal_for_key
from observability import dashboard, selectors, snapshots
from observability.metrics import metrics_registry
from observability.models import Alert, Snapshot
from observability.serializers import (
    AlertListResponse,
    SnapshotListQuery,
    SnapshotListResponse,
    SnapshotResponse,
)

FRESH_ON_GET = "A GET only reads the latest stored snapshot; POST /api/observability/snapshot takes a fresh one."


def _snapshot_answer(snapshot: Snapshot) -> dict:
    age = max(0, int((timezone.now() - snapshot.taken_at).total_seconds()))
    answer = {"snapshot": snapshot, "age_sec": age, "stale": age > settings.OBS_SNAPSHOT_STALE_SECONDS}
    return SnapshotResponse(answer).data


class SnapshotView(APIView):
    @extend_schema(
        operation_id="observability_snapshot",
        summary="The latest system snapshot",
        description=(
            "The latest stored snapshot; reading it changes nothing. While none is stored yet (the first "
            "seconds of a new installation) the snapshot is measured for this answer and not stored. "
            "`?fresh=` is refused (400): POST takes a fresh snapshot."
        ),
        responses={200: SnapshotResponse},
    )
    def get(self, request):
        if "fresh" in request.query_params:
            raise ValidationError({"fresh": [FRESH_ON_GET]})
        snapshot = selectors.snapshot_latest() or snapshots.snapshot_measure(blocking_cpu=False)
        return Response(_snapshot_answer(snapshot))

    @extend_schema(
        operation_id="observability_snapshot_take",
        summary="Take a system snapshot now",
        description=(
            "Take a fresh snapshot now, store it and answer it. CPU is measured since the previous "
            "reading of the answering process (a quarter of a second at least), never over a full second."
        ),
        request=None,
        responses={201: SnapshotResponse},
    )
    def post(self, request):
        return Response(_snapshot_answer(snapshots.snapshot_take(blocking_cpu=False)), status=201)


class SnapshotListView(APIView):
    @extend_schema(
        operation_id="observability_snapshots",
        summary="Recent snapshots, newest first",
        parameters=[SnapshotListQuery],
        responses={200: SnapshotListResponse},
    )
    def get(self, request):
        query = SnapshotListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = selectors.snapshot_list(since=query.validated_data.get("since"), limit=query.validated_data["limit"])
        return Response(SnapshotListResponse({"count": len(rows), "results": rows}).data)


class AlertListView(APIView):
    @extend_schema(
        operation_id="observability_alerts",
        summary="Production alerts, firing first",
        responses={200: AlertListResponse},
    )
    def get(self, request):
        alerts = selectors.alert_list(now=timezone.now())
        firing = sum(alert.status == Alert.Status.FIRING for alert in alerts)
        return Response(AlertListResponse({"firing": firing, "results": alerts}).data)


@never_cache
@staff_member_required
@permission_required("observability.view_dashboard", raise_exception=True)
@require_safe
def dashboard_view(request):
    """Staff only (others go to the admin login); a staff user without the dashboard permission gets 403."""
    period = "7d" if request.GET.get("range") == "7d" else "24h"
    context = {
        **admin.site.each_context(request),
        "is_nav_sidebar_enabled": False,
        **dashboard.context(period=period, now=timezone.now()),
    }
    return render(request, "observability/dashboard.html", context)


def _metrics_allowed(request) -> bool:
    key = request.headers.get("X-Dash-Key")
    if key is not None:
        return principal_for_key(key.strip()) is not None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    configured = settings.METRICS_TOKEN
    return bool(configured) and scheme.lower() == "bearer" and hmac.compare_digest(token.strip(), configured)


@never_cache
@require_safe
def metrics_view(request):
    """Prometheus text format; ``X-Dash-Key`` or ``Authorization: Bearer <METRICS_TOKEN>``."""
    if not _metrics_allowed(request):
        response = JsonResponse(error_body("not_authenticated", "Send X-Dash-Key or a bearer token."), status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(metrics_registry()), content_type=CONTENT_TYPE_LATEST)
