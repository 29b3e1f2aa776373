from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from echopilot.schema import ErrorSerializer
from notifications.models import Status
from notifications.rules import request_fingerprint
from notifications.selectors import email_get
from notifications.serializers import (
    IDEMPOTENCY_KEY_PATTERN,
    EmailResponseSerializer,
    EmailSendResultSerializer,
    EmailSendSerializer,
    idempotency_key,
)
from notifications.services import email_send


class EmailSendView(APIView):
    """Store an email and queue it for delivery (a dry run when SMTP is not configured)."""

    @extend_schema(
        operation_id="email_send",
        summary="Send an email (stored, then delivered with retries)",
        request=EmailSendSerializer,
        examples=[
            OpenApiExample(
                "One recipient",
                value={"to": "you@example.com", "subject": "Hello", "body": "It works."},
                request_only=True,
            ),
            OpenApiExample(
                "Several recipients, with HTML",
                value={
                    "to": ["ada@example.com", "grace@example.com"],
                    "subject": "Your monthly statement",
                    "body": "Your statement for November is ready.",
                    "html": "<p>Your statement for <b>November</b> is ready.</p>",
                },
                request_only=True,
            ),
        ],
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="1 to 200 printable ASCII characters. Same key, same request: answers with the first "
                "email, sends nothing. Same key, another request: 409 idempotency_key_reused.",
                pattern=IDEMPOTENCY_KEY_PATTERN,
            )
        ],
        responses={
            409: OpenApiResponse(
                ErrorSerializer, "idempotency_key_reused: the key was used before with a different request."
            ),
            202: OpenApiResponse(EmailSendResultSerializer, "Stored and queued; GET /api/email/{id} shows its status."),
            200: OpenApiResponse(
                EmailSendResultSerializer, "SMTP is not configured: recorded as a dry run (dry_run true), not sent."
            ),
        },
    )
    def post(self, request):
        data = EmailSendSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = idempotency_key(request.headers.get("Idempotency-Key"))
        email, _ = email_send(
            **data.validated_data,
            # Callers' keys live in their own namespace, apart from internal ones such as receipt:<payment>.
            idempotency_key=f"api:{key}" if key else "",
            request_fingerprint=request_fingerprint(**data.validated_data) if key else "",
            created_by=request.user.label,
        )
        code = status.HTTP_200_OK if email.status == Status.DRY_RUN else status.HTTP_202_ACCEPTED
        return Response(EmailSendResultSerializer(email).data, status=code)


class EmailDetailView(APIView):
    @extend_schema(
        operation_id="email_retrieve",
        summary="Show an email and its delivery status",
        responses=EmailResponseSerializer,
    )
    def get(self, request, public_id):
        return Response(EmailResponseSerializer({"email": email_get(public_id=public_id)}).data)
