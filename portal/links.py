"""Signed portal links: pure functions over plain values (no database, no clock of their own).

A link is ``<PUBLIC_BASE_URL>/portal?e=<email>&exp=<unix seconds>&sig=<signature>``.
The signature is Django's ``Signer`` (HMAC-SHA256 keyed by SESSION_SECRET, and
by SESSION_SECRET_FALLBACKS while rotating) over the JSON array ``[email, exp]``,
so no two (email, exp) pairs sign the same text. It is URL-safe base64.
"""

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlencode

from django.core import signing

SALT = "echopilot.portal.link"
DEFAULT_EXPIRY_HOURS = 24
MAX_EMAIL_CHARS = 254
_EXP = re.compile(r"[0-9]{1,10}")
_SIG = re.compile(r"[A-Za-z0-9_-]{1,100}")


@dataclass(frozen=True)
class LinkParams:
    email: str
    exp: int
    sig: str


def _signer() -> signing.Signer:
    return signing.Signer(salt=SALT, algorithm="sha256")


def _payload(email: str, exp: int) -> str:
    return json.dumps([email, exp], separators=(",", ":"))


def link_sign(*, email: str, exp: int) -> str:
    """The signature of (email, exp) with the current SESSION_SECRET."""
    return _signer().signature(_payload(email, exp))


def link_params_parse(*, e: list[str], exp: list[str], sig: list[str]) -> LinkParams | None:
    """The link's parameters, each given exactly once and well-formed; None otherwise."""
    if len(e) != 1 or len(exp) != 1 or len(sig) != 1:
        return None
    email, expiry, signature = e[0], exp[0], sig[0]
    if not 0 < len(email) <= MAX_EMAIL_CHARS or not _EXP.fullmatch(expiry) or not _SIG.fullmatch(signature):
        return None
    return LinkParams(email=email, exp=int(expiry), sig=signature)


def link_signature_valid(params: LinkParams) -> bool:
    """Whether the signature matches (constant time, current secret or a fallback)."""
    try:
        _signer().unsign(f"{_payload(params.email, params.exp)}{_signer().sep}{params.sig}")
    except signing.BadSignature:
        return False
    return True


def link_expired(*, exp: int, now: datetime) -> bool:
    """A link works while ``now`` is before ``exp``."""
    return now.timestamp() >= exp


def link_path(*, email: str, exp: int, sig: str) -> str:
    """``/portal?e=...&exp=...&sig=...`` with every value percent-encoded (``+ & % #`` in an email survive)."""
    return f"/portal?{urlencode({'e': email, 'exp': exp, 'sig': sig}, quote_via=quote)}"


def link_beyond_lifetime(*, exp: int, now: datetime, max_hours: int) -> bool:
    """A link may not work longer than the maximum lifetime from now, whoever signed it."""
    return exp > now.timestamp() + max_hours * 3600


def signature_hash(sig: str) -> str:
    """What the database stores to find a link: never the signature itself."""
    return hashlib.sha256(sig.encode()).hexdigest()
