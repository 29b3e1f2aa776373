HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


def portal_headers(path: str) -> dict | None:
    """The headers of a portal response; None outside the portal.

    ``no-referrer`` everywhere: browsers then post the portal's forms with ``Origin: null``,
    which Django's CSRF check refuses, so the portal's forms carry their own session-bound
    token instead (``portal.views.portal_form``).
    """
    if path == "/portal" or path.startswith("/portal/"):
        return {**HEADERS, "Referrer-Policy": "no-referrer"}
    return None


class PortalHeadersMiddleware:
    """The portal's headers on every response under /portal: pages, redirects, errors, CSRF failures."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        for name, value in (portal_headers(request.path) or {}).items():
            response[name] = value
        return response
