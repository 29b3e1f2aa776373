"""Authentication for ``/api/``: the ``X-Dash-Key`` header, and nothing else.

Accepted keys are every value of ``DASHBOARD_KEY`` and every active named key
created in the admin. With neither configured every request is refused (fail
closed). A key in the query string is never looked at.
"""

from rest_framework import authentication, exceptions, permissions

from echopilot.keys import principal_for_key

HEADER = "X-Dash-Key"


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


class IsStaffOrApiKey(permissions.BasePermission):
    """An API key, or a logged-in staff user of the admin."""

    def has_permission(self, request, view):
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        return getattr(user, "kind", None) is not None or bool(getattr(user, "is_staff", False))
