import io

from django.conf import settings
from rest_framework.parsers import JSONParser

from echopilot.errors import PayloadTooLarge


class LimitedJSONParser(JSONParser):
    """Strict JSON (no NaN or Infinity) of at most ``API_MAX_BODY_BYTES``.

    DRF streams the body past Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``, so the
    limit is enforced here as well, which also covers chunked uploads that
    carry no Content-Length.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            raise PayloadTooLarge()
        return super().parse(io.BytesIO(data), media_type, parser_context)
