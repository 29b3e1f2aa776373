"""Strict readers for configuration from environment variables.

Every reader raises ``ImproperlyConfigured`` naming the variable when its value
cannot be parsed, so a typo in production stops start-up instead of silently
falling back to a default.
"""

import ipaddress
import os
import re
import sys
import zoneinfo
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import validate_email

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _shown(value: str) -> str:
    """A value quoted for an error message: control characters escaped, at most 100 characters."""
    return repr(value[:100]) + ("..." if len(value) > 100 else "")


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def env_str(name: str, default: str | None = None) -> str | None:
    value = _raw(name)
    return default if value is None else value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {_shown(value)}.")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number; got {_shown(value)}.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {number}.")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}; got {number}.")
    return number


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number; got {_shown(value)}.") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ImproperlyConfigured(f"{name} must be a finite number; got {_shown(value)}.")
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {number}.")
    return number


def env_decimal(name: str, default: str, *, minimum: Decimal | None = None) -> Decimal:
    value = _raw(name) or default
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ImproperlyConfigured(f"{name} must be a decimal number; got {_shown(value)}.") from None
    if not number.is_finite():
        raise ImproperlyConfigured(f"{name} must be a finite decimal number; got {_shown(value)}.")
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {number}.")
    return number


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    """Comma-separated values; blanks are dropped."""
    value = _raw(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def env_emails(name: str) -> list[str]:
    """Comma-separated email addresses, each a valid one."""
    addresses = env_list(name)
    for address in addresses:
        try:
            validate_email(address)
        except ValidationError:
            raise ImproperlyConfigured(f"{name} holds {_shown(address)}, which is not a valid email address.") from None
    return addresses


def env_choice(name: str, choices: tuple[str, ...], default: str | None) -> str | None:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}; got {_shown(value)}.")
    return value.lower()


def _without_credentials(url: str) -> str:
    """The URL with any ``user:password@`` replaced, so an error message never shows a password."""
    return re.sub(r"//.*@", "//***@", url, flags=re.S)


def env_url(name: str, default: str | None, *, schemes: tuple[str, ...]) -> str | None:
    value = _raw(name) or default
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number from 0 to 65535
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"{name} is not a valid URL ({exc}); got {_shown(_without_credentials(value))}."
        ) from None
    if parts.scheme not in schemes or not parts.hostname:
        raise ImproperlyConfigured(
            f"{name} must be a URL starting with {' or '.join(s + '://' for s in schemes)}; "
            f"got {_shown(_without_credentials(value))}."
        )
    return value


def env_timezone(name: str, default: str) -> str:
    """An IANA time zone name such as ``UTC`` or ``Europe/Berlin`` (checked against the zone database)."""
    value = _raw(name) or default
    if value not in zoneinfo.available_timezones():
        raise ImproperlyConfigured(
            f"{name} must be an IANA time zone name such as UTC or Europe/Berlin; got {_shown(value)}."
        )
    return value


_HOST_NAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")


def env_host(name: str, default: str) -> str:
    """An IP address (IPv6 with or without brackets) or a host name; returned without brackets."""
    value = _raw(name) or default
    bare = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    if bare == value and len(value) <= 253 and _HOST_NAME.fullmatch(value):
        return value
    raise ImproperlyConfigured(f"{name} must be an IP address or a host name; got {_shown(value)}.")


def exit_on_configuration_error(*, status: int = 2) -> None:
    """Load the Django settings; on a bad value print one line naming it to stderr and exit.

    ``manage.py`` and ``echopilot/wsgi.py`` call this first, so a typo in the
    environment stops every command and the web server with one readable line
    instead of a traceback.
    """
    from django.conf import settings

    try:
        settings.INSTALLED_APPS  # noqa: B018 - imports and checks the settings module
    except ImproperlyConfigured as exc:
        message = " ".join(str(exc).split())
        sys.stderr.write(f"EchoPilot Ops: configuration error: {message}\n")
        sys.stderr.flush()
        raise SystemExit(status) from None


def env_rule_timing(name: str) -> dict[str, dict[str, int]]:
    """Per-rule alert timing: ``rule:for=10,keep=15,repeat=2;other_rule:for=30`` (``for`` and ``keep`` in
    minutes, ``repeat`` in hours) → ``{"rule": {"for": 10, "keep": 15, "repeat": 2}, ...}``. Which rule names
    exist is observability's to check (at start-up)."""
    value = _raw(name)
    if value is None or not value.strip():
        return {}
    limits = {"for": (0, 7 * 24 * 60), "keep": (0, 7 * 24 * 60), "repeat": (1, 24 * 30)}
    timing: dict[str, dict[str, int]] = {}
    for part in filter(None, (item.strip() for item in value.split(";"))):
        rule, colon, pairs = part.partition(":")
        rule = rule.strip()
        if not colon or not re.fullmatch(r"[a-z_]{1,50}", rule) or rule in timing:
            raise ImproperlyConfigured(
                f"{name}: {_shown(part)} is not rule:for=M,keep=M,repeat=H (each rule once), e.g. "
                "revenue_dip:for=60,repeat=12"
            )
        timing[rule] = {}
        for pair in pairs.split(","):
            key, equals, number = (piece.strip() for piece in pair.partition("="))
            if key not in limits or not equals or not re.fullmatch(r"\d{1,6}", number) or key in timing[rule]:
                raise ImproperlyConfigured(
                    f"{name}: {_shown(pair)} in {rule}'s timing is not for=<minutes>, keep=<minutes> or "
                    "repeat=<hours>, each at most once"
                )
            low, high = limits[key]
            if not low <= int(number) <= high:
                raise ImproperlyConfigured(f"{name}: {rule}'s {key} must be from {low} to {high}")
            timing[rule][key] = int(number)
    return timing
