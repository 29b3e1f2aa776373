"""One error shape for the whole API.

Every error answer is ``{"ok": false, "error": "<machine_code>", "message":
"<human text>"}``, plus ``"fields": {"<field>": ["<reason>", ...]}`` for
validation errors. Services raise ``ApiError``; DRF's own exceptions, database
outages and anything unexpected are mapped here, so no client input can
produce an HTML page or a bare 500.
"""

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status

logger = logging.getLogger(__name__)


class ApiError(exceptions.APIException):
    """An application error with a machine code, a message and optional field reasons."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "bad_request"
    default_detail = "The request could not be processed."

    def __init__(self, message=None, *, code=None, status_code=None, fields=None, headers=None):
        super().__init__(detail=message or self.default_detail, code=code or self.default_code)
        if status_code is not None:
            self.status_code = status_code
        self.error_code = code or self.default_code
        self.fields = fields
        self.headers = headers or {}


class PayloadTooLarge(ApiError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"
    default_detail = "The request body is larger than 1 MiB."


class ServiceUnavailable(ApiError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "service_unavailable"
    default_detail = "A backing service is unavailable; try again shortly."


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

    headers = {}
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, (OperationalError, InterfaceError)):
        logger.warning("database unavailable: %s", exc)
        exc = ServiceUnavailable()
        headers["Retry-After"] = "5"
    elif isinstance(exc, DatabaseError):
        logger.exception("database error in %s", context.get("view"))
        exc = ServiceUnavailable("The database could not complete the request; try again.")
        headers["Retry-After"] = "5"

    if not isinstance(exc, exceptions.APIException):
        logger.exception("unhandled error in %s", context.get("view"), exc_info=exc)
        set_rollback()
        return JsonResponse(error_body("server_error", "An internal error occurred."), status=500)

    if isinstance(exc, ApiError):
        body = error_body(exc.error_code, str(exc.detail), exc.fields)
        headers.update(exc.headers)
    elif isinstance(exc, exceptions.ValidationError):
        body = validation_error_body(exc.detail)
    else:
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        body = error_body(_CODES.get(code, code), str(exc.detail))

    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    set_rollback()
    response = JsonResponse(body, status=exc.status_code)
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
