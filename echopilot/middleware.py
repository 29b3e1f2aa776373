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


# The staff pages' policy: everything from this server, no inline scripts (Django's admin needs none;
# Swagger UI gets its start-up script as a file, SpectacularSwaggerSplitView). Inline styles stay allowed:
# the admin and Swagger UI set style attributes and the admin's own <style> blocks. `data:` images for the
# admin's and Swagger UI's inline SVG icons. The portal keeps its own stricter policy (portal.middleware).
STAFF_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)


class StaffContentSecurityPolicyMiddleware:
    """``Content-Security-Policy`` on every response that sets none of its own.

    Made for the staff pages (admin, dashboard, API docs), it covers every other response too (error
    pages, the login lockout, JSON), so a page added later is protected without being listed. It sits
    outside the portal's middleware in ``MIDDLEWARE``, so the portal's own policy, set first, stays.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", STAFF_CSP)
        return response
