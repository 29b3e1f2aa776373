from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from echopilot.pagination import Pagination
from echopilot.schema import ErrorSerializer
from payments.selectors import payment_get, payment_list
from payments.serializers import (
    PaymentFilterSerializer,
    PaymentPageSerializer,
    PaymentResponseSerializer,
    WebhookResultSerializer,
)
from payments.services import stripe_webhook_receive


class StripeWebhookView(APIView):
    """Stripe's webhook deliveries, authenticated by the Stripe-Signature header (no X-Dash-Key).

    The raw body is verified before anything reads it as JSON, so DRF's
    parsers are never used here.
    """

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="webhooks_stripe",
        summary="Receive a Stripe event (authenticated by Stripe-Signature, not X-Dash-Key)",
        auth=[],
        request={"application/json": OpenApiTypes.OBJECT},
        examples=[
            OpenApiExample(
                "A payment succeeded (sign it with manage.py stripe_sign_event)",
                value={
                    "id": "evt_demo_1",
                    "object": "event",
                    "type": "payment_intent.succeeded",
                    "data": {
                        "object": {
                            "id": "pi_demo_1",
                            "object": "payment_intent",
                            "amount": 2500,
                            "currency": "usd",
                            "receipt_email": "ada@example.com",
                        }
                    },
                },
                request_only=True,
            )
        ],
        parameters=[
            OpenApiParameter(
                "Stripe-Signature",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                description="t=<unix time>,v1=<hex HMAC-SHA256 of '<t>.<body>' with STRIPE_WEBHOOK_SECRET>",
            )
        ],
        responses={
            200: OpenApiResponse(
                WebhookResultSerializer,
                "Received. invalid: verified, but it can never be processed (the reason says why); "
                "answered 2xx so that the provider does not send it again.",
            ),
            400: OpenApiResponse(
                ErrorSerializer, "invalid_signature, or malformed_request: not a Stripe event (or nested too deeply)."
            ),
            500: OpenApiResponse(ErrorSerializer, "processing_failed: recorded; the provider delivers it again."),
        },
    )
    def post(self, request):
        result = stripe_webhook_receive(
            body=request.body,
            content_type=request.META.get("CONTENT_TYPE", ""),
            signature=request.META.get("HTTP_STRIPE_SIGNATURE"),
        )
        return Response(WebhookResultSerializer(result).data)


class PaymentListView(APIView):
    """Payments newest first, filtered by email, status and creation time."""

    @extend_schema(
        operation_id="payments_list",
        summary="List payments, newest first",
        parameters=[PaymentFilterSerializer],
        responses=PaymentPageSerializer,
    )
    def get(self, request):
        filters = PaymentFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        page = Pagination().paginate(payment_list(**filters.filters()), request, view=self)
        return Response(PaymentPageSerializer(page).data)


class PaymentDetailView(APIView):
    @extend_schema(operation_id="payments_retrieve", summary="Show a payment", responses=PaymentResponseSerializer)
    def get(self, request, provider_id):
        payment = payment_get(provider_id=provider_id)
        return Response(PaymentResponseSerializer({"payment": payment}).data)
