"""The real URLconf plus a baseline endpoint that only the benchmarks mount.

The baseline does what every API write must do anyway: authenticate the key,
validate the fraud check's input with the same serializer, and insert one row (with the ``ip`` when sent, as
the check stores it).
The fraud check's cost above it is the counting, locking and deciding.
"""

from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView

from fraud.models import FraudCheck
from fraud.serializers import CheckInput


class BaselineView(APIView):
    def post(self, request):
        data = CheckInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        check = FraudCheck.objects.create(
            email=values["email"],
            amount=values["amount"],
            currency=values["currency"],
            card_type=values["card_type"],
            card_fingerprint=values["card_fingerprint"],
            ip=values.get("ip"),
            card_key="baseline",
            decision="allow",
            reason="baseline",
            rule="baseline",
            ruleset_version="baseline",
        )
        return Response({"ok": True, "check_id": check.check_id})


urlpatterns = [
    path("api/bench/baseline", BaselineView.as_view()),
    path("", include("echopilot.urls")),
]
