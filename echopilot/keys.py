"""API keys: who is calling the API (services and selectors for ``X-Dash-Key``)."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from echopilot.actors import actor_key
from echopilot.exceptions import Invalid
from echopilot.models import ApiKey

KEY_PREFIX = "ep_"
MAX_KEY_LENGTH = 256
# A value of DASHBOARD_KEY is named by its place: "DASHBOARD_KEY#1" in audit records (``Principal.label``).
DASHBOARD_KEY_LABEL = "DASHBOARD_KEY#"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of an API request (``request.user`` in views).

    ``label`` names it in audit records and ``created_by`` fields
    (``echopilot.actors``); it never contains the key.
    """

    kind: str  # "dashboard_key" (name: its place in DASHBOARD_KEY, from 1) or "api_key" (name: the key's name)
    name: str

    is_authenticated = True
    is_anonymous = False
    is_active = True

    @property
    def label(self) -> str:
        return actor_key(f"{DASHBOARD_KEY_LABEL}{self.name}" if self.kind == "dashboard_key" else self.name)

    def __str__(self):
        return self.label


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_key_check_name(name: str) -> str:
    """A new key's name as stored (trimmed), or ``Invalid`` saying what is wrong with it.

    The name is how audit records and ``created_by`` fields name the caller (``key:<name>``), so
    it is one printable line, and never one of the dashboard keys' labels ("DASHBOARD_KEY#1" …),
    which would make a named key's actions read as a dashboard key's.
    """
    name = name.strip()
    if not name:
        raise Invalid("A key needs a name.", code="blank", fields={"name": ["A key needs a name."]})
    if not name.isprintable():
        message = "The name may not contain control or invisible characters (tabs, line breaks, zero-width ...)."
        raise Invalid(message, code="control_characters", fields={"name": [message]})
    if name.upper().startswith(DASHBOARD_KEY_LABEL.rstrip("#")):
        message = f"Names starting with {DASHBOARD_KEY_LABEL.rstrip('#')} are the labels of the DASHBOARD_KEY values."
        raise Invalid(message, code="reserved_name", fields={"name": [message]})
    return name


def api_key_check_expiry(expires_at, *, now=None) -> None:
    """``Invalid`` for an expiry that is not in the future (a key that would never work)."""
    if expires_at is not None and expires_at <= (now or timezone.now()):
        message = "The expiry must be in the future (leave it empty for a key that does not expire)."
        raise Invalid(message, code="expired", fields={"expires_at": [message]})


def api_key_create(*, name: str, expires_at=None, created_by=None) -> tuple[ApiKey, str]:
    """Create a named key; returns the row and the key, which is not stored anywhere.

    The name is checked here (``api_key_check_name``) whoever calls; the expiry's "in the future"
    is the admin form's rule (``api_key_check_expiry``), so tests can still make expired keys.
    """
    name = api_key_check_name(name)
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        name=name,
        prefix=raw[:11],
        key_hash=hash_key(raw),
        expires_at=expires_at,
        created_by=created_by,
    )
    return key, raw


def api_key_revoke(*, key: ApiKey) -> bool:
    """Revoke a key; returns False when it was already revoked."""
    return bool(ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()))


def principal_for_key(raw: str) -> Principal | None:
    """The caller a presented key belongs to, or None when it is not valid."""
    if not raw or len(raw) > MAX_KEY_LENGTH or not raw.isascii() or not raw.isprintable():
        return None
    digest = hash_key(raw)
    # Compare against every configured dashboard key, without stopping early.
    match = None
    for index, configured in enumerate(settings.DASHBOARD_KEYS, start=1):
        if hmac.compare_digest(digest, hash_key(configured)) and match is None:
            match = Principal(kind="dashboard_key", name=str(index))
    if match:
        return match
    if not raw.startswith(KEY_PREFIX):
        return None
    key = ApiKey.objects.filter(key_hash=digest).first()
    if key is None or not key.is_active():
        return None
    _touch(key)
    return Principal(kind="api_key", name=key.name)


def _touch(key: ApiKey) -> None:
    """Record the last use, at most once a minute per key (no write per request)."""
    now = timezone.now()
    resolution = timedelta(seconds=settings.API_KEY_LAST_USED_RESOLUTION_SECONDS)
    if key.last_used_at is None or now - key.last_used_at >= resolution:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
