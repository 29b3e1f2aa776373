import datetime as dt

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from echopilot.emails import normalize_email
from echopilot.serializers import MomentField, OutputSerializer, QuerySerializer
from payments.models import Payment


class PaymentFilterSerializer(QuerySerializer):
    email = serializers.EmailField(required=False, help_text="Exact address (case-insensitive).")
    status = serializers.ChoiceField(choices=Payment.Status.choices, required=False)
    since = MomentField(
        required=False, default_timezone=dt.UTC, help_text="Created at or after (ISO-8601; naive means UTC)."
    )
    until = MomentField(
        required=False,
        default_timezone=dt.UTC,
        help_text="Created before (ISO-8601; naive means UTC). With since, it must be later than since "
        "(400 otherwise; a rule OpenAPI cannot state).",
    )
    page = serializers.IntegerField(required=False, min_value=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=200)

    def validate_email(self, value):
        return normalize_email(value)

    def validate(self, attrs):
        if attrs.get("since") and attrs.get("until") and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": ["Must be later than since."]})
        return attrs

    def filters(self) -> dict:
        return {key: self.validated_data.get(key) for key in ("email", "status", "since", "until")}


class PaymentSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="provider_id", help_text="The provider's id, e.g. pi_123.")

    class Meta:
        model = Payment
        fields = [
            "id",
            "email",
            "amount",
            "currency",
            "status",
            "card_type",
            "card_fingerprint",
            "failure_code",
            "failure_message",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


@extend_schema_serializer(component_name="PaginatedPaymentList")
class PaymentPageSerializer(OutputSerializer):
    """One page of payments (``echopilot.pagination.Pagination.paginate``)."""

    count = serializers.IntegerField(help_text="Payments on every page together.")
    next = serializers.URLField(allow_null=True, help_text="The next page, null on the last.")
    previous = serializers.URLField(allow_null=True, help_text="The previous page, null on the first.")
    results = PaymentSerializer(many=True)


class PaymentResponseSerializer(OutputSerializer):
    payment = PaymentSerializer()


class WebhookResultSerializer(OutputSerializer):
    event_id = serializers.CharField()
    outcome = serializers.ChoiceField(
        choices=["processed", "ignored", "invalid", "duplicate"],
        help_text="duplicate: the event was already handled; nothing changed. "
        "invalid: it can never be processed (see reason); recorded, not processed.",
    )
    reason = serializers.CharField(required=False, help_text="Why an invalid event can never be processed.")

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not data.get("reason"):
            data.pop("reason", None)
        return data
