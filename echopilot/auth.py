"""Authentication: ``X-Dash-Key`` for ``/api/``, staff sessions for the docs, and the admin login's throttle.

Accepted keys are every value of ``DASHBOARD_KEY`` and every active named key
created in the admin. With neither configured every request is refused (fail
closed). A key in the query string is never looked at.

The admin login is throttled by django-axes (settings ``AXES_*``): the client's
address comes from ``client_ip``, a lockout is answered by ``admin_lockout_response``,
and every failed login is a line in ``admin_logins.ndjson``.
"""

import ipaddress

from django.conf import settings
from django.contrib import admin
from django.shortcuts import render
from rest_framework import authentication, exceptions, permissions

from echopilot.audit import audit_event
from echopilot.keys import Principal, principal_for_key

HEADER = "X-Dash-Key"
DOCS_PERMISSION = "echopilot.view_api_docs"


class DashKeyAuthentication(authentication.BaseAuthentication):
    meta_key = "HTTP_X_DASH_KEY"

    def authenticate(self, request):
        raw = request.META.get(self.meta_key)
        if raw is None:
            return None
        principal = principal_for_key(raw.strip())
        if principal is None:
            raise exceptions.AuthenticationFailed("The X-Dash-Key header does not hold a valid key.")
        return principal, principal

    def authenticate_header(self, request):
        return f'DashKey realm="api", header="{HEADER}"'


class StaffSessionAuthentication(authentication.SessionAuthentication):
    """A logged-in admin user (for the API docs in a browser); CSRF-checked as usual."""


class IsApiKeyOrDocsReader(permissions.BasePermission):
    """An API key, or a logged-in staff user who holds ``echopilot.view_api_docs``."""

    def has_permission(self, request, view):
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        if isinstance(user, Principal):
            return True
        return bool(user.is_staff and user.has_perm(DOCS_PERMISSION))


def client_ip(request) -> str:
    """The address a request came from (``AXES_CLIENT_IP_CALLABLE``).

    ``REMOTE_ADDR``; behind ``TRUSTED_PROXY_COUNT`` proxies that each append the address
    they were reached from to ``X-Forwarded-For``, the entry the outermost of them wrote,
    counted from the right. Entries further left come from the client and are never read.
    Anything that is not an IP address falls back to ``REMOTE_ADDR``.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    count = settings.TRUSTED_PROXY_COUNT
    if count:
        hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if len(hops) >= count:
            try:
                return str(ipaddress.ip_address(hops[-count].strip()))
            except ValueError:
                pass
    return remote


def admin_lockout_response(request, original_response=None, credentials=None):
    """The page a locked-out admin login gets (``AXES_LOCKOUT_CALLABLE``): 429, with the wait and the way out."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    response = render(
        request,
        "admin/login_locked_out.html",
        {
            **admin.site.each_context(request),
            "title": "Login locked",
            "cooloff_minutes": minutes,
            "failure_limit": settings.AXES_FAILURE_LIMIT,
        },
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
    response["Retry-After"] = str(minutes * 60)
    return response


def audit_login_failed(sender, credentials, request=None, **kwargs):
    """A failed login as a line of ``admin_logins.ndjson`` (after django-axes has counted it)."""
    if request is None:
        return
    audit_event(
        "admin_logins",
        "login_failed",
        username=str(credentials.get("username", ""))[:150],
        ip=getattr(request, "axes_ip_address", None) or client_ip(request),
        path=request.path[:200],
        locked_out=bool(getattr(request, "axes_locked_out", False)),
    )
