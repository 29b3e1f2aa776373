"""OpenAPI schema conventions: the X-Dash-Key scheme, the documented error answers, and input rules.

The schema states what the API accepts, so a client (or the fuzzer) generating requests from it
sends nothing the API refuses, and nothing it forbids is accepted. DRF's fields say most of it
(types, lengths, bounds, choices); ``AutoSchema`` adds what DRF's text fields refuse without saying
(NUL, blank text); a serializer states rules no single field can (one field's bound depending on
another's value, "exactly one of") in ``openapi_rules()``, merged into its request schema.
"""

import re

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema as BaseAutoSchema
from rest_framework import serializers

from echopilot.serializers import TextField

# Python's whitespace (``str.isspace``: what ``str.strip()`` and so DRF's ``trim_whitespace`` remove), spelled
# out: the ``\s`` of JSON Schema's regular expressions (ECMA-262) is another set.
WHITESPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def text_pattern(*, blank: bool, forbidden: str = r"\x00") -> str:
    """A pattern for text without the ``forbidden`` characters that, unless ``blank``, is not only whitespace.

    ``forbidden`` is the inside of a character class; NUL is refused by every DRF text field.
    """
    if blank:
        return rf"^[^{forbidden}]*$"
    return rf"^[^{forbidden}]*[^{forbidden}{WHITESPACE}][^{forbidden}]*$"


def branch_enum(values) -> dict:
    """An enum inside an anyOf/oneOf branch of ``openapi_rules()``.

    Wrapped in allOf, so drf-spectacular's enum hook (``postprocess_schema_enums``) leaves it alone:
    it would replace it with the component of the property's full enum, dropping the branch's condition.
    """
    return {"allOf": [{"enum": list(values)}]}


def _deep_merge(base: dict, extra: dict) -> dict:
    """``extra`` merged into ``base`` (dicts key by key, anything else replaced; None removes the key)."""
    for key, value in extra.items():
        if value is None:
            base.pop(key, None)
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value
    return base


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
    """Documents the platform's error shape on every operation, required bodies and what text fields refuse."""

    def _get_request_body(self, direction="request"):
        # Every body of this API is a JSON object with something in it: none is optional.
        body = super()._get_request_body(direction)
        if body is not None:
            body["required"] = True
        return body

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        plain_text = type(field) in (serializers.CharField, TextField)  # not emails, URLs, slugs: they have a form
        if direction == "request" and plain_text and schema and not {"pattern", "format", "enum"} & set(schema):
            # DRF refuses NUL in any text, and blank text, whitespace only once trimmed, unless allow_blank.
            schema["pattern"] = text_pattern(blank=field.allow_blank or not field.trim_whitespace)
        return schema

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


class SerializerRules(OpenApiSerializerExtension):
    """A serializer's ``openapi_rules()`` merged into its request schema: what its fields alone do not say."""

    target_class = "rest_framework.serializers.Serializer"
    match_subclasses = True

    @classmethod
    def _matches(cls, target) -> bool:
        return hasattr(target, "openapi_rules") and super()._matches(target)

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return _deep_merge(schema, self.target.openapi_rules()) if direction == "request" else schema


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
