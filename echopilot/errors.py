"""One error shape for the whole API.

Every error answer is ``{"ok": false, "error": "<machine_code>", "message":
"<human text>"}``, plus ``"fields": {"<field>": ["<reason>", ...]}`` for
validation errors. Services and selectors raise an ``ApplicationError``
(``echopilot.exceptions``), which knows nothing of HTTP: its class is mapped to
a status here (``STATUS``). DRF's own exceptions, database outages and anything
unexpected are mapped here too, so no client input can produce an HTML page or a
bare 500.
"""

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status

from echopilot.exceptions import (
    ApplicationError,
    Conflict,
    Failed,
    Invalid,
    NotFound,
    RateLimited,
    Unavailable,
    UnsupportedFormat,
)

logger = logging.getLogger(__name__)

# The status of each kind of application error; a subclass takes its nearest listed ancestor's.
STATUS = {
    UnsupportedFormat: status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    Invalid: status.HTTP_400_BAD_REQUEST,
    NotFound: status.HTTP_404_NOT_FOUND,
    Conflict: status.HTTP_409_CONFLICT,
    RateLimited: status.HTTP_429_TOO_MANY_REQUESTS,
    Unavailable: status.HTTP_503_SERVICE_UNAVAILABLE,
    Failed: status.HTTP_500_INTERNAL_SERVER_ERROR,
    ApplicationError: status.HTTP_400_BAD_REQUEST,
}

# Seconds a client is asked to wait after a database outage.
DATABASE_RETRY_AFTER = 5


def status_for(error: ApplicationError) -> int:
    return next(STATUS[kind] for kind in type(error).__mro__ if kind in STATUS)


class PayloadTooLarge(exceptions.APIException):
    """A body over ``API_MAX_BODY_BYTES`` (raised by the JSON parser, answered by the body-limit middleware too)."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"
    default_detail = "The request body is larger than 1 MiB."


# DRF's codes, renamed where a plainer word helps the caller.
_CODES = {
    "parse_error": "malformed_request",
    "invalid": "validation_error",
}


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    body = {"ok": False, "error": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    return body


def validation_error_body(detail) -> dict:
    """The error body for a serializer's errors: in the API's handler and in management commands alike."""
    return error_body("validation_error", "The request has invalid fields.", _flatten(detail))


def _flatten(detail, prefix="") -> dict[str, list[str]]:
    """DRF's nested validation detail as ``{"field.sub": ["reason", ...]}``."""
    fields: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for sub, reasons in _flatten(value, name).items():
                fields.setdefault(sub, []).extend(reasons)
    elif isinstance(detail, list):
        for index, item in enumerate(detail):
            if isinstance(item, (dict, list)):
                for sub, reasons in _flatten(item, f"{prefix}.{index}" if prefix else str(index)).items():
                    fields.setdefault(sub, []).extend(reasons)
            else:
                fields.setdefault(prefix or "non_field_errors", []).append(str(item))
    else:
        fields.setdefault(prefix or "non_field_errors", []).append(str(detail))
    return fields


def api_exception_handler(exc, context):
    """DRF exception handler: every failure of an API view in the one shape."""
    from rest_framework.views import set_rollback  # rest_framework.views imports our parser, which imports us

    if isinstance(exc, Http404):
        exc = NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, (OperationalError, InterfaceError)):
        logger.warning("database unavailable: %s", exc)
        exc = Unavailable(retry_after=DATABASE_RETRY_AFTER)
    elif isinstance(exc, DatabaseError):
        logger.exception("database error in %s", context.get("view"))
        exc = Unavailable("The database could not complete the request; try again.", retry_after=DATABASE_RETRY_AFTER)

    headers = {}
    if isinstance(exc, ApplicationError):
        status_code = status_for(exc)
        body = error_body(exc.code, exc.message, exc.fields)
        if exc.retry_after is not None:
            headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, exceptions.APIException):
        status_code = exc.status_code
        if isinstance(exc, exceptions.ValidationError):
            body = validation_error_body(exc.detail)
        else:
            code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
            body = error_body(_CODES.get(code, code), str(exc.detail))
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
    else:
        logger.exception("unhandled error in %s", context.get("view"), exc_info=exc)
        set_rollback()
        return JsonResponse(error_body("server_error", "An internal error occurred."), status=500)

    set_rollback()
    response = JsonResponse(body, status=status_code)
    for name, value in headers.items():
        response[name] = value
    return response


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def handler400(request, exception=None):
    from django.views.defaults import bad_request

    if _is_api(request):
        return JsonResponse(error_body("bad_request", "The request could not be understood."), status=400)
    return bad_request(request, exception)


def handler404(request, exception=None):
    from django.views.defaults import page_not_found

    if _is_api(request):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    return page_not_found(request, exception)


def handler500(request):
    from django.views.defaults import server_error

    if _is_api(request):
        return JsonResponse(error_body("server_error", "An internal error occurred."), status=500)
    return server_error(request)
