from django.http import JsonResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from echopilot.errors import error_body
from echopilot.health import READINESS_CHECKS, readiness
from echopilot.serializers import WhoAmISerializer


@require_safe
def favicon(request):
    """Browsers ask for /favicon.ico on their own; ours is an SVG among the static files (pages link it too)."""
    return redirect(static("echopilot/favicon.svg"))


@never_cache
@require_safe
def livez(request):
    """Alive: the process answers. No dependency is checked."""
    return JsonResponse({"ok": True})


@never_cache
@require_safe
def readyz(request):
    """Ready: database reachable, migrations applied, cache reachable, task queue not stalled.

    ``?exclude=tasks`` (repeatable, or comma-separated) leaves checks out: a load balancer
    routing requests to web nodes asks without ``tasks``, since a stalled queue does not stop
    a node from answering; monitoring asks for everything.
    """
    names = (name.strip() for value in request.GET.getlist("exclude") for name in value.split(","))
    exclude = frozenset(name for name in names if name)
    unknown = sorted(exclude - set(READINESS_CHECKS))
    if unknown:
        message = f"Unknown check in exclude; known: {', '.join(READINESS_CHECKS)}."
        return JsonResponse(error_body("validation_error", message, {"exclude": [message]}), status=400)
    failed = readiness(exclude=exclude)
    if failed:
        return JsonResponse({"ok": False, "failed": failed}, status=503)
    return JsonResponse({"ok": True})


class WhoAmIView(APIView):
    """Which key the request was authenticated with (never the key itself)."""

    @extend_schema(operation_id="whoami", responses=WhoAmISerializer)
    def get(self, request):
        return Response(WhoAmISerializer(request.user).data)


@extend_schema(exclude=True)
class ApiNotFoundView(APIView):
    """Any other path under /api/: authenticated callers get a JSON 404, anonymous ones 401."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        raise exceptions.NotFound("No API route matches this path.")

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise exceptions.NotFound("No API route matches this path.")
