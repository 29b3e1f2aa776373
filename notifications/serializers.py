import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from echopilot.emails import valid_email
from echopilot.schema import text_pattern
from echopilot.serializers import OutputSerializer, TextField
from notifications.models import Email, Status
from notifications.rules import check_header_text

MAX_RECIPIENTS = 50
MAX_SUBJECT_CHARS = 998  # RFC 5322 line length limit
MAX_BODY_BYTES = 1024 * 1024
MAX_IDEMPOTENCY_KEY_CHARS = 200
STATUS_MESSAGES = {
    Status.QUEUED: "Email queued for delivery.",
    Status.SENDING: "Email is being sent.",
    Status.SENT: "Email sent.",
    Status.FAILED: "Email delivery failed.",
    Status.DRY_RUN: "SMTP not configured - email not sent",
    Status.SUPPRESSED: "Every recipient is on the suppression list (a hard bounce or a complaint) - email not sent.",
}


# Characters no header may carry (``rules.HEADER_UNSAFE_CATEGORIES``: Cc, Zl, Zp), as a regular expression's class.
HEADER_UNSAFE_CHARACTERS = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
_ADDRESS_SCHEMA = {"type": "string", "format": "email", "maxLength": 320}


@extend_schema_field(
    {
        "oneOf": [
            _ADDRESS_SCHEMA,
            {"type": "array", "items": _ADDRESS_SCHEMA, "minItems": 1, "maxItems": MAX_RECIPIENTS},
        ]
    }
)
class _RecipientsField(serializers.ListField):
    """One address or a list of addresses."""

    child = TextField(trim_whitespace=False)

    def to_internal_value(self, data):
        return super().to_internal_value([data] if isinstance(data, str) else data)


def _check_bytes(value: str, limit: int) -> str:
    if len(value.encode()) > limit:
        raise serializers.ValidationError(f"Must be at most {limit} bytes (UTF-8).")
    return value


class EmailSendSerializer(serializers.Serializer):
    to = _RecipientsField(
        min_length=1, max_length=MAX_RECIPIENTS, help_text="An address or a list of up to 50 addresses."
    )
    subject = TextField(max_length=MAX_SUBJECT_CHARS, trim_whitespace=False)
    body = TextField(trim_whitespace=False, help_text="Plain-text body, at most 1 MiB.")
    html = TextField(
        required=False, default="", allow_blank=True, trim_whitespace=False, help_text="Optional HTML body."
    )

    def validate_to(self, value):
        addresses = []
        for address in value:
            try:
                normalized = valid_email(check_header_text(address))
            except ValueError as exc:
                raise serializers.ValidationError(str(exc)) from None
            if normalized not in addresses:
                addresses.append(normalized)
        return addresses

    def validate_subject(self, value):
        try:
            check_header_text(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value

    def validate_body(self, value):
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return _check_bytes(value, MAX_BODY_BYTES)

    def validate_html(self, value):
        return _check_bytes(value, MAX_BODY_BYTES)

    @classmethod
    def openapi_rules(cls) -> dict:
        """A subject is one header line; neither it nor the body may be blank (see ``echopilot.schema``)."""
        return {
            "properties": {
                "subject": {"pattern": text_pattern(blank=False, forbidden=HEADER_UNSAFE_CHARACTERS)},
                "body": {"pattern": text_pattern(blank=False)},
            }
        }


IDEMPOTENCY_KEY_PATTERN = rf"^[\x21-\x7e]{{1,{MAX_IDEMPOTENCY_KEY_CHARS}}}$"


def idempotency_key(header: str | None) -> str:
    """The Idempotency-Key header checked: printable ASCII, at most 200 characters; empty when absent."""
    if header is None:
        return ""
    if not re.fullmatch(IDEMPOTENCY_KEY_PATTERN, header):
        raise serializers.ValidationError(
            {"Idempotency-Key": [f"Must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters."]}
        )
    return header


class EmailSendResultSerializer(OutputSerializer):
    id = serializers.CharField(source="public_id", help_text="em_ followed by 24 hex digits.")
    status = serializers.ChoiceField(choices=Status.choices)
    dry_run = serializers.SerializerMethodField()
    message = serializers.SerializerMethodField()

    def get_dry_run(self, email) -> bool:
        return email.status == Status.DRY_RUN

    def get_message(self, email) -> str:
        return STATUS_MESSAGES[email.status]


class EmailSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")

    class Meta:
        model = Email
        fields = [
            "id",
            "to",
            "subject",
            "kind",
            "status",
            "attempts",
            "next_attempt_at",
            "last_error",
            "error_type",
            "message_id",
            "created_at",
            "sent_at",
            "suppressed_to",
        ]
        read_only_fields = fields


class EmailResponseSerializer(OutputSerializer):
    email = EmailSerializer()


class TelegramUpdateResultSerializer(OutputSerializer):
    """What became of one update posted to /api/telegram/webhook (``notifications.buttons.UpdateResult``)."""

    update_id = serializers.IntegerField()
    outcome = serializers.ChoiceField(
        choices=["acted", "ignored", "refused", "failed", "replayed"],
        help_text="acted: handled. ignored: nothing handles this button any more. refused: see reason. "
        "failed: the handler raised; nothing it did was kept. replayed: this update_id was received before; "
        "nothing was done again.",
    )
    reason = serializers.CharField(
        required=False,
        help_text="refused: chat_not_allowed, user_not_allowed, not_our_button or not_a_button_press; "
        "failed: the error.",
    )

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not data.get("reason"):
            data.pop("reason", None)
        return data
