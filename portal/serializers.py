from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from echopilot.serializers import OutputSerializer, TextField, WholeNumberField
from portal.links import DEFAULT_EXPIRY_HOURS


class LinkInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    expiry_hours = WholeNumberField(
        required=False, default=DEFAULT_EXPIRY_HOURS, min_value=1, help_text="1 to PORTAL_MAX_EXPIRY_HOURS (168)."
    )

    def validate_expiry_hours(self, value):
        if value > settings.PORTAL_MAX_EXPIRY_HOURS:
            raise serializers.ValidationError(
                f"Ensure this value is less than or equal to {settings.PORTAL_MAX_EXPIRY_HOURS}."
            )
        return value

    @classmethod
    def openapi_rules(cls) -> dict:
        return {"properties": {"expiry_hours": {"maximum": settings.PORTAL_MAX_EXPIRY_HOURS}}}


class LinkOutput(OutputSerializer):
    """A new link: ``{"link": PortalLink, "url": its path}`` (``portal.services.portal_link_request``)."""

    link_id = serializers.CharField(source="link.public_id")
    email = serializers.EmailField(source="link.email")
    url = serializers.CharField(help_text="/portal?e=...&exp=...&sig=... — not stored, cannot be shown again.")
    full_url = serializers.SerializerMethodField(help_text="PUBLIC_BASE_URL followed by url: send it to the customer.")
    expires_at = serializers.DateTimeField(source="link.expires_at")

    @extend_schema_field(OpenApiTypes.URI)
    def get_full_url(self, created) -> str:
        return settings.PUBLIC_BASE_URL + created["url"]


class RevokeInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254, required=False, help_text="Revoke every link of this email.")
    link_id = TextField(max_length=30, required=False, help_text="Revoke this one link (pl_...).")

    def validate(self, data):
        if len(data) != 1:
            raise serializers.ValidationError("Give exactly one of email and link_id.")
        return data

    @classmethod
    def openapi_rules(cls) -> dict:
        return {"oneOf": [{"required": ["email"]}, {"required": ["link_id"]}]}


class RevokeOutput(OutputSerializer):
    revoked = serializers.IntegerField(help_text="Links that were active and are now revoked.")
