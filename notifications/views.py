from anymail.exceptions import AnymailError, AnymailWebhookValidationFailure
from anymail.signals import tracking
from anymail.webhooks.mailgun import MailgunTrackingWebhookView
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from echopilot.errors import PayloadTooLarge, error_body
from echopilot.schema import ErrorSerializer
from notifications.buttons import SECRET_HEADER, WebhookRefused, telegram_update_receive
from notifications.models import Status
from notifications.rules import request_fingerprint
from notifications.selectors import email_get
from notifications.serializers import (
    IDEMPOTENCY_KEY_PATTERN,
    EmailResponseSerializer,
    EmailSendResultSerializer,
    EmailSendSerializer,
    TelegramUpdateResultSerializer,
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
                EmailSendResultSerializer,
                "Not sent: SMTP is not configured (status dry_run, dry_run true), or every recipient is on the "
                "suppression list (status suppressed).",
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
        code = status.HTTP_200_OK if email.status in (Status.DRY_RUN, Status.SUPPRESSED) else status.HTTP_202_ACCEPTED
        return Response(EmailSendResultSerializer(email).data, status=code)


class EmailDetailView(APIView):
    @extend_schema(
        operation_id="email_retrieve",
        summary="Show an email and its delivery status",
        responses=EmailResponseSerializer,
    )
    def get(self, request, public_id):
        return Response(EmailResponseSerializer({"email": email_get(public_id=public_id)}).data)


# django-anymail's tracking view of each provider EMAIL_WEBHOOK_PROVIDER may name: another provider is one line here.
TRACKING_VIEWS = {"postmark": PostmarkTrackingWebhookView, "mailgun": MailgunTrackingWebhookView}


def _tracking_view():
    """The configured provider's anymail view, or None while its credentials are not all set (fail closed)."""
    provider = settings.EMAIL_WEBHOOK_PROVIDER
    if not settings.ANYMAIL.get("WEBHOOK_SECRET"):
        return None
    if provider == "mailgun" and not settings.ANYMAIL.get("MAILGUN_WEBHOOK_SIGNING_KEY"):
        return None
    return TRACKING_VIEWS[provider]()


class EmailTrackingWebhookView(APIView):
    """The mail provider's tracking webhook (bounces, complaints, deliveries), through django-anymail.

    Authenticated by HTTP basic auth with EMAIL_WEBHOOK_SECRET (and, for Mailgun,
    its signature), not X-Dash-Key; refused while that is not configured. anymail
    checks and normalises the provider's payload and sends ``anymail.signals.tracking``,
    which ``notifications.feedback`` records. The raw body goes to anymail, so
    DRF's parsers are never used here.
    """

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="webhooks_email",
        summary="Receive the mail provider's tracking events (HTTP basic auth, not X-Dash-Key)",
        auth=[],
        request={"application/json": OpenApiTypes.OBJECT},
        examples=[
            OpenApiExample(
                "A Postmark hard bounce",
                value={
                    "RecordType": "Bounce",
                    "ID": 4323372036854775807,
                    "Type": "HardBounce",
                    "TypeCode": 1,
                    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
                    "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
                    "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
                    "Email": "john@example.com",
                    "BouncedAt": "2019-11-05T16:33:54.9070259Z",
                    "Inactive": True,
                },
                request_only=True,
            )
        ],
        responses={
            200: OpenApiResponse(
                inline_serializer(
                    "EmailTrackingReceived",
                    {"ok": serializers.BooleanField(), "received": serializers.IntegerField(min_value=0)},
                ),
                "Received: how many events the call held (a replayed event changes nothing).",
            ),
            400: OpenApiResponse(ErrorSerializer, "malformed_request: not an event of the configured provider."),
            401: OpenApiResponse(ErrorSerializer, "not_authenticated: missing or wrong basic auth or signature."),
            403: OpenApiResponse(ErrorSerializer, "webhook_not_configured: EMAIL_WEBHOOK_SECRET is not set."),
        },
    )
    def post(self, request):
        view = _tracking_view()
        if view is None:
            return Response(
                error_body("webhook_not_configured", "The email tracking webhook is not configured."), status=403
            )
        raw = request._request  # anymail reads the body and headers of Django's own request
        try:
            view.run_validators(raw)
        except AnymailWebhookValidationFailure:
            return Response(
                error_body("not_authenticated", "Missing or wrong credentials."),
                status=401,
                headers={"WWW-Authenticate": 'Basic realm="email-webhook"'},
            )
        try:
            events = view.parse_events(raw)
        except (AnymailError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return Response(error_body("malformed_request", f"Not a {view.esp_name} tracking event."), status=400)
        for event in events:
            tracking.send(sender=type(view), event=event, esp_name=view.esp_name)
        return Response({"ok": True, "received": len(events)})


# What each refusal of telegram_update_receive is answered with; any other authentic update gets 200.
TELEGRAM_REFUSALS = {"webhook_not_configured": 403, "not_authenticated": 401, "malformed_request": 400}


class TelegramWebhookView(APIView):
    """Telegram's updates: presses of the buttons under our messages (``notifications.buttons``).

    Authenticated by the X-Telegram-Bot-Api-Secret-Token header (TELEGRAM_WEBHOOK_SECRET), not X-Dash-Key;
    refused while that is not configured. The raw body is read only after the secret matched, so DRF's
    parsers are never used here. Telegram delivers again whatever is not answered 2xx, so an authentic
    update is answered 200 whatever became of it (refused, replayed, failed): the body says which.
    """

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="telegram_webhook",
        summary="Receive Telegram's updates: presses of alert buttons (X-Telegram-Bot-Api-Secret-Token, not X-Dash-Key)",
        auth=[],
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=[
            OpenApiParameter(
                SECRET_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                description="TELEGRAM_WEBHOOK_SECRET, as registered by manage.py telegram_set_webhook.",
            )
        ],
        examples=[
            OpenApiExample(
                "A press of Acknowledge",
                value={
                    "update_id": 815000001,
                    "callback_query": {
                        "id": "4382bfdwdsb323b2d9",
                        "from": {"id": 11111111, "is_bot": False, "first_name": "Ada"},
                        "message": {"message_id": 42, "chat": {"id": -1001234567890, "type": "supergroup"}},
                        "chat_instance": "-54321",
                        "data": "ack:al_0123456789abcdef01234567",
                    },
                },
                request_only=True,
            )
        ],
        responses={
            200: OpenApiResponse(
                TelegramUpdateResultSerializer,
                "Received (authentic), whatever became of it: answered 2xx so that Telegram does not send it again.",
            ),
            400: OpenApiResponse(ErrorSerializer, "malformed_request: not a Telegram update."),
            401: OpenApiResponse(ErrorSerializer, "not_authenticated: missing or wrong secret header."),
            403: OpenApiResponse(ErrorSerializer, "webhook_not_configured: TELEGRAM_WEBHOOK_SECRET is not set."),
            413: OpenApiResponse(ErrorSerializer, "payload_too_large: over API_MAX_BODY_BYTES."),
        },
    )
    def post(self, request):
        try:
            body = request.body
        except RequestDataTooBig:
            return Response(error_body(PayloadTooLarge.default_code, PayloadTooLarge.default_detail), status=413)
        try:
            result = telegram_update_receive(body=body, secret=request.headers.get(SECRET_HEADER))
        except WebhookRefused as refused:
            return Response(error_body(refused.code, refused.message), status=TELEGRAM_REFUSALS[refused.code])
        return Response(TelegramUpdateResultSerializer(result).data)
