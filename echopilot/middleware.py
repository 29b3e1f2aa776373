from django.conf import settings
from django.http import JsonResponse

from echopilot.errors import PayloadTooLarge, error_body


class ApiBodyLimitMiddleware:
    """Refuse an API request whose declared body is too large before reading it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            declared = request.META.get("CONTENT_LENGTH") or "0"
            if not declared.isdigit():
                return JsonResponse(error_body("bad_request", "Content-Length is not a number."), status=400)
            if int(declared) > settings.API_MAX_BODY_BYTES:
                too_large = PayloadTooLarge
                return JsonResponse(
                    error_body(too_large.default_code, too_large.default_detail), status=too_large.status_code
                )
        return self.get_response(request)
