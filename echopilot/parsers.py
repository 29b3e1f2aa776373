import json
from decimal import Decimal
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from echopilot.errors import PayloadTooLarge

# Deepest nesting of arrays and objects accepted in any JSON we read (API bodies, Stripe events).
# Stripe's events nest about 8 levels; Python's own parser gives up near 1,000 with a RecursionError,
# and everything that walks a parsed document afterwards (serializers, JSON columns) recurses too.
MAX_JSON_DEPTH = 64


def reject_json_constant(name: str):
    """``parse_constant`` for ``json.loads``: NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not valid JSON")


def _depth(document: Any) -> int:
    """How deeply arrays and objects nest in a parsed document (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(document, 1)]
    while stack:
        value, level = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def json_loads(text: str, *, parse_float=float) -> Any:
    """Strict JSON: ``ValueError`` for malformed text, NaN or Infinity, and nesting deeper than ``MAX_JSON_DEPTH``.

    The one way this project reads JSON it did not write. A text with no more
    brackets than the limit cannot nest deeper, so most documents skip the walk.
    """
    try:
        document = json.loads(text, parse_float=parse_float, parse_constant=reject_json_constant)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _depth(document) > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    return document


class LimitedJSONParser(JSONParser):
    """Strict JSON of at most ``API_MAX_BODY_BYTES``; numbers with a fraction become ``Decimal``.

    DRF streams the body past Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``, so the
    limit is enforced here as well, which also covers bodies that declare no
    Content-Length. NaN and Infinity are refused, so is nesting deeper than
    ``MAX_JSON_DEPTH``, and no amount ever passes through a float.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            raise PayloadTooLarge()
        try:
            return json_loads(data.decode("utf-8"), parse_float=Decimal)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
