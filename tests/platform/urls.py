"""The real URLconf plus a few views that exist only to exercise the platform's error handling."""

from django.db import OperationalError
from django.urls import include, path
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from echopilot import exceptions
from echopilot import urls as project_urls


class EchoInput(serializers.Serializer):
    name = serializers.CharField(max_length=20)
    amount = serializers.DecimalField(max_digits=10, decimal_places=2)


class EchoView(APIView):
    def post(self, request):
        data = EchoInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response({"ok": True, "name": data.validated_data["name"]})


class BoomView(APIView):
    def get(self, request):
        raise RuntimeError("secret internals")


class DatabaseDownView(APIView):
    def get(self, request):
        raise OperationalError("connection refused")


# One of each kind of application error, as a service or selector would raise it.
APPLICATION_ERRORS = {
    "base": lambda: exceptions.ApplicationError(),
    "invalid": lambda: exceptions.Invalid("Say why.", code="needs_a_reason", fields={"reason": ["Required."]}),
    "unsupported": lambda: exceptions.UnsupportedFormat("Send JSON."),
    "not_found": lambda: exceptions.NotFound("No thing has this id."),
    "conflict": lambda: exceptions.Conflict("Already done.", code="already_done"),
    "rate_limited": lambda: exceptions.RateLimited("Slow down.", retry_after=30),
    "unavailable": lambda: exceptions.Unavailable(retry_after=5),
    "unavailable_no_wait": lambda: exceptions.Unavailable("Full for now."),
    "failed": lambda: exceptions.Failed("It broke; send it again.", code="processing_failed"),
}


class ApplicationErrorView(APIView):
    def get(self, request, kind):
        raise APPLICATION_ERRORS[kind]()


urlpatterns = [
    path("api/test/application-error/<str:kind>", ApplicationErrorView.as_view()),
    path("api/test/echo", EchoView.as_view()),
    path("api/test/boom", BoomView.as_view()),
    path("api/test/db-down", DatabaseDownView.as_view()),
    path("", include(project_urls)),
]
handler400 = project_urls.handler400
handler404 = project_urls.handler404
handler500 = project_urls.handler500
