"""The portal's own session and its response headers, on every request under /portal."""

import re
import time
from importlib import import_module

from django.conf import settings
from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.exceptions import SessionInterrupted
from django.utils.cache import patch_vary_headers
from django.utils.http import http_date

# The portal's session cookie: its own name and path, so the admin's session (``sessionid``)
# is never read, cycled, extended or flushed by the portal, and this one never reaches the admin.
COOKIE_NAME = "portal_session"
COOKIE_PATH = "/portal"
# What Django's session keys look like; any other cookie value is no session (and never reaches the database).
_SESSION_KEY = re.compile(r"[a-z0-9]{32}")

HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


def is_portal_path(path: str) -> bool:
    return path == "/portal" or path.startswith("/portal/")


def portal_headers(path: str) -> dict | None:
    """The headers of a portal response; None outside the portal.

    ``no-referrer`` everywhere: browsers then post the portal's forms with ``Origin: null``,
    which Django's CSRF check refuses, so the portal's forms carry their own session-bound
    token instead (``portal.views.portal_form``).
    """
    if is_portal_path(path):
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


class PortalSessionMiddleware:
    """``request.portal_session``: a server-side session of its own under the ``portal_session`` cookie.

    The same session engine as Django's (rows in ``django_session``), but another store under
    another cookie (path /portal, HttpOnly, SameSite=Lax, Secure behind https). Saved like
    Django's: when modified, with the cookie expiring with the session; an emptied session
    loses its cookie. ``request.session`` (the admin's) is never touched under /portal.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.SessionStore = import_module(settings.SESSION_ENGINE).SessionStore

    def __call__(self, request):
        if not is_portal_path(request.path):
            return self.get_response(request)
        key = request.COOKIES.get(COOKIE_NAME)
        request.portal_session = self.SessionStore(key if key and _SESSION_KEY.fullmatch(key) else None)
        response = self.get_response(request)
        session = request.portal_session
        if COOKIE_NAME in request.COOKIES and session.is_empty():
            response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH, samesite="Lax")
        elif session.modified and not session.is_empty() and response.status_code < 500:
            try:
                session.save()
            except UpdateError:
                raise SessionInterrupted("The portal session was deleted before the request completed.") from None
            max_age = session.get_expiry_age()
            response.set_cookie(
                COOKIE_NAME,
                session.session_key,
                max_age=max_age,
                expires=http_date(time.time() + max_age),
                path=COOKIE_PATH,
                secure=settings.SESSION_COOKIE_SECURE or None,
                httponly=True,
                samesite="Lax",
            )
        if session.accessed:
            patch_vary_headers(response, ("Cookie",))
        return response
