"""The one application error: what services and selectors raise when they refuse.

An ``ApplicationError`` knows nothing of HTTP. It carries a machine ``code``, a
human ``message``, optional ``fields`` (``{"field": ["reason", ...]}``) and, for
the "try again later" kinds, ``retry_after`` in seconds. Its class says what
kind of refusal it is; the API's exception handler (``echopilot.errors``) turns
the class into a status, and an HTML view catches the class and renders its page.

    raise NotFound("No payment has this id.")
    raise Conflict("This review is already closed.", code="review_closed")
"""


class ApplicationError(Exception):
    """A refusal with a machine code, a message and optional field reasons."""

    default_code = "bad_request"
    default_message = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        fields: dict[str, list[str]] | None = None,
        retry_after: int | None = None,
    ):
        self.message = message or self.default_message
        self.code = code or self.default_code
        self.fields = fields
        self.retry_after = retry_after  # seconds until asking again may work, for RateLimited and Unavailable
        super().__init__(self.message)


class Invalid(ApplicationError):
    """What was asked for cannot be done as asked (a missing reason, a bad signature, a malformed body)."""


class UnsupportedFormat(Invalid):
    """The input is in a format this operation does not read."""

    default_code = "unsupported_media_type"
    default_message = "The body is not in a format this endpoint reads."


class NotFound(ApplicationError):
    default_code = "not_found"
    default_message = "Not found."


class Conflict(ApplicationError):
    """The current state does not allow it (already done, already exists, a reused key)."""

    default_code = "conflict"
    default_message = "The request conflicts with the current state."


class RateLimited(ApplicationError):
    """Too many of these in the current window; ``retry_after`` says when the next one is allowed."""

    default_code = "rate_limited"
    default_message = "Too many requests; try again later."


class Unavailable(ApplicationError):
    """Something this needs is down or exhausted for now; asking again later may work."""

    default_code = "service_unavailable"
    default_message = "A backing service is unavailable; try again shortly."


class Failed(ApplicationError):
    """It failed on our side, after the input was accepted (recorded, so asking again may work)."""

    default_code = "server_error"
    default_message = "An internal error occurred."


def get_or_not_found(queryset, *, message: str, **lookup):
    """The one row ``lookup`` matches in ``queryset`` (a model's manager will do), or ``NotFound(message)``.

    The one way a selector says "there is no such row".
    """
    try:
        return queryset.get(**lookup)
    except queryset.model.DoesNotExist:
        raise NotFound(message) from None
