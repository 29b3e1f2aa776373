import io
import json
from decimal import Decimal

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from echopilot.errors import PayloadTooLarge


def reject_json_constant(name: str):
    """``parse_constant`` for ``json.loads``: NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not valid JSON")


class LimitedJSONParser(JSONParser):
    """Strict JSON of at most ``API_MAX_BODY_BYTES``; numbers with a fraction become ``Decimal``.

    DRF streams the body past Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``, so the
    limit is enforced here as well, which also covers bodies that declare no
    Content-Length. NaN and Infinity are refused, and no amount ever passes
    through a float.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            raise PayloadTooLarge()
        try:
            return json.load(
                io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"),
                parse_float=Decimal,
                parse_constant=reject_json_constant,
            )
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
