"""OpenAPI schema conventions: the X-Dash-Key scheme and the documented error answers."""

import re

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as BaseAutoSchema
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    ok = serializers.BooleanField(default=False)
    error = serializers.CharField(help_text="Machine-readable code, e.g. validation_error.")
    message = serializers.CharField(help_text="Human-readable explanation.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Only for validation errors: the reasons per field.",
    )

    class Meta:
        ref_name = "Error"


_ERRORS = {
    "400": "Invalid input.",
    "401": "Missing or invalid X-Dash-Key.",
    "403": "Not allowed.",
    "404": "Not found.",
    "405": "Method not allowed.",
    "429": "Rate limited.",
    "503": "A backing service (the database) is unavailable.",
}
_BODY_ERRORS = {
    "413": "Request body over 1 MiB.",
    "415": "Unsupported content type.",
}


class AutoSchema(BaseAutoSchema):
    """Documents the platform's error shape on every operation."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        errors = dict(_ERRORS)
        if not self.view.authentication_classes:  # authenticated otherwise (the Stripe signature)
            del errors["401"], errors["403"]
        if self.method in ("POST", "PUT", "PATCH"):
            errors.update(_BODY_ERRORS)
        for code, description in errors.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                responses[code]["description"] = description
        return responses


class DashKeyScheme(OpenApiAuthenticationExtension):
    target_class = "echopilot.auth.DashKeyAuthentication"
    name = "DashKey"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "X-Dash-Key"}


class StaffSessionScheme(OpenApiAuthenticationExtension):
    target_class = "echopilot.auth.StaffSessionAuthentication"
    name = "AdminSession"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


_DECIMAL_PATTERN = re.compile(r"^\^-\?\\d\{0,(\d+)\}\(\?:\\\.\\d\{0,(\d+)\}\)\?\$$")


def tighten_decimal_patterns(result, generator, request, public):
    """drf-spectacular's decimal pattern also matches "", "-" and ".", which DRF refuses; require digits.

    A postprocessing hook, so the schema documents exactly what the API accepts and clients
    (and the fuzzer) generating from it produce valid amounts.
    """

    def walk(node):
        if isinstance(node, dict):
            pattern = node.get("pattern")
            match = _DECIMAL_PATTERN.match(pattern) if isinstance(pattern, str) else None
            if match:
                node["pattern"] = rf"^-?\d{{1,{match[1]}}}(?:\.\d{{1,{match[2]}}})?$"
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(result)
    return result
