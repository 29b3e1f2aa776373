from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from echopilot.health import readiness


@never_cache
@require_safe
def livez(request):
    """Alive: the process answers. No dependency is checked."""
    return JsonResponse({"ok": True})


@never_cache
@require_safe
def readyz(request):
    """Ready: database reachable, migrations applied, cache reachable."""
    failed = readiness()
    if failed:
        return JsonResponse({"ok": False, "failed": failed}, status=503)
    return JsonResponse({"ok": True})


class WhoAmIView(APIView):
    """Which key the request was authenticated with (never the key itself)."""

    @extend_schema(
        operation_id="whoami",
        responses=inline_serializer(
            "WhoAmI",
            {
                "ok": serializers.BooleanField(),
                "principal": inline_serializer(
                    "Principal", {"kind": serializers.CharField(), "name": serializers.CharField()}
                ),
            },
        ),
    )
    def get(self, request):
        return Response({"ok": True, "principal": {"kind": request.user.kind, "name": request.user.name}})


@extend_schema(exclude=True)
class ApiNotFoundView(APIView):
    """Any other path under /api/: authenticated callers get a JSON 404, anonymous ones 401."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        raise exceptions.NotFound("No API route matches this path.")

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise exceptions.NotFound("No API route matches this path.")
