"""Customer portal: issuing, opening and revoking signed links; resending receipts.

Every write is one ``portal_links`` audit event (ids and emails; never a
signature, a link URL or a session key).
"""

from datetime import UTC, datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import DateTimeField, F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from echopilot.actors import actor_portal, actor_task
from echopilot.audit import audit_event
from echopilot.counters import rate_limit_hit
from echopilot.emails import normalize_email
from echopilot.exceptions import RateLimited, Unavailable
from notifications.models import Email
from notifications.services import receipt_resend
from payments.models import Payment
from portal.links import (
    DEFAULT_EXPIRY_HOURS,
    link_beyond_lifetime,
    link_expired,
    link_params_parse,
    link_path,
    link_sign,
    link_signature_valid,
    signature_hash,
)
from portal.models import PortalLink, PortalRevocation
from portal.selectors import portal_link_usable

WINDOW_SECONDS = 3600
FREE_EXPIRY_WINDOW_SECONDS = 3600


def _rate_hit(*, scope: str, identity: str, limit: int, now: datetime) -> None:
    """Count one use in the current clock hour (a counter in the database); ``RateLimited`` over ``limit``."""
    retry_after = rate_limit_hit(
        scope=f"portal:{scope}", key=identity, limit=limit, window_seconds=WINDOW_SECONDS, now=now
    )
    if retry_after is not None:
        raise RateLimited(f"At most {limit} per hour; try again in {retry_after} seconds.", retry_after=retry_after)


def _free_expiry(*, email: str, exp: int, floor: int) -> int:
    """The latest second at or before ``exp`` and after ``floor`` at which ``email`` has no link yet.

    Two links for one email and expiry second would share a signature, so the
    later one expires a little earlier: one query per hour of expiry seconds
    searched, however many links the email already has.
    """
    while exp > floor:
        low = max(exp - FREE_EXPIRY_WINDOW_SECONDS, floor)
        taken = {
            int(expires_at.timestamp())
            for expires_at in PortalLink.objects.filter(
                email=email,
                expires_at__gt=datetime.fromtimestamp(low, UTC),
                expires_at__lte=datetime.fromtimestamp(exp, UTC),
            ).values_list("expires_at", flat=True)
        }
        for second in range(exp, low, -1):
            if second not in taken:
                return second
        exp = low
    raise Unavailable("This email has a link for every second of the lifetime asked for; try again shortly.")


def portal_link_create(
    *, email: str, created_by: str, expiry_hours: int = DEFAULT_EXPIRY_HOURS, now: datetime | None = None
) -> tuple[PortalLink, str]:
    """Issue a link for ``email``; returns the row and the link's path (``/portal?...``), which is not stored.

    It expires ``expiry_hours`` from now, or at the latest earlier second this
    email has no link for yet (see ``_free_expiry``).
    """
    now = now or timezone.now()
    email = normalize_email(email)
    floor = int(now.timestamp())
    exp = floor + expiry_hours * 3600
    while True:
        exp = _free_expiry(email=email, exp=exp, floor=floor)
        sig = link_sign(email=email, exp=exp)
        try:
            with transaction.atomic():
                link = PortalLink.objects.create(
                    sig_hash=signature_hash(sig),
                    email=email,
                    expires_at=datetime.fromtimestamp(exp, UTC),
                    created_by=created_by,
                    created_at=now,
                )
            break
        except IntegrityError:
            if not PortalLink.objects.filter(sig_hash=signature_hash(sig)).exists():
                raise  # not that race: some other constraint failed
            exp -= 1  # a concurrent call took this second first: look below it
    audit_event(
        "portal_links",
        "link_created",
        link=link.public_id,
        email=email,
        expires_at=link.expires_at,
        created_by=created_by,
    )
    return link, link_path(email=email, exp=exp, sig=sig)


def receipt_link_mint(email: Email) -> str:
    """The link minter notifications calls when it hands ``email`` to SMTP (``notifications.links``).

    A fresh link for ``email.portal_link_for`` with the maximum lifetime, as a
    full URL; it is put into the outgoing message only, never stored.
    """
    _, path = portal_link_create(
        email=email.portal_link_for,
        created_by=actor_task("email_deliver", on=email.public_id),
        expiry_hours=settings.PORTAL_MAX_EXPIRY_HOURS,
    )
    return settings.PUBLIC_BASE_URL + path


def portal_link_request(
    *, email: str, created_by: str, expiry_hours: int = DEFAULT_EXPIRY_HOURS, now: datetime | None = None
) -> tuple[PortalLink, str]:
    """``portal_link_create`` for API callers: rate limited per caller and per customer email."""
    now = now or timezone.now()
    email = normalize_email(email)
    _rate_hit(scope="key", identity=created_by, limit=settings.PORTAL_RATE_PER_KEY, now=now)
    _rate_hit(scope="email", identity=email, limit=settings.PORTAL_RATE_PER_EMAIL, now=now)
    return portal_link_create(email=email, created_by=created_by, expiry_hours=expiry_hours, now=now)


def portal_link_open(*, e: list[str], exp: list[str], sig: list[str], now: datetime | None = None) -> PortalLink | None:
    """The link these query parameters make, when it works (its use counted); None for any failure.

    Checked in this order: well-formed parameters, the signature, the expiry, then the database.
    """
    now = now or timezone.now()
    params = link_params_parse(e=e, exp=exp, sig=sig)
    link = None
    if params is None:
        reason = "malformed"
    elif not link_signature_valid(params):
        reason = "bad_signature"
    elif link_expired(exp=params.exp, now=now):
        reason = "expired"
    elif link_beyond_lifetime(exp=params.exp, now=now, max_hours=settings.PORTAL_MAX_EXPIRY_HOURS):
        reason = "beyond_lifetime"
    else:
        link = PortalLink.objects.filter(sig_hash=signature_hash(params.sig), email=params.email).first()
        reason = "unknown" if link is None else None if portal_link_usable(link=link, now=now) else "revoked"
    if reason:
        audit_event("portal_links", "link_rejected", reason=reason, link=link.public_id if link else None)
        return None
    PortalLink.objects.filter(pk=link.pk).update(
        use_count=F("use_count") + 1,
        first_used_at=Coalesce(F("first_used_at"), Value(now), output_field=DateTimeField()),
        last_used_at=now,
    )
    link.refresh_from_db()
    audit_event("portal_links", "link_opened", link=link.public_id, email=link.email, use_count=link.use_count)
    return link


def portal_link_revoke(*, link: PortalLink, revoked_by: str, now: datetime | None = None) -> int:
    """Revoke one link; returns 1, or 0 when it was already revoked."""
    now = now or timezone.now()
    revoked = PortalLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(revoked_at=now)
    audit_event("portal_links", "link_revoked", link=link.public_id, email=link.email, revoked=revoked, by=revoked_by)
    return revoked


def portal_email_revoke(*, email: str, revoked_by: str, now: datetime | None = None) -> int:
    """Revoke every link of ``email`` issued until now; returns how many were still active."""
    now = now or timezone.now()
    email = normalize_email(email)
    with transaction.atomic():
        PortalRevocation.objects.update_or_create(email=email, defaults={"revoked_before": now})
        revoked = PortalLink.objects.filter(email=email, revoked_at__isnull=True).update(revoked_at=now)
    audit_event("portal_links", "email_revoked", email=email, revoked=revoked, by=revoked_by)
    return revoked


def portal_receipt_resend(*, link: PortalLink, payment: Payment, now: datetime | None = None) -> Email:
    """Queue another email with this receipt, at most PORTAL_RESEND_PER_HOUR per customer."""
    _rate_hit(scope="resend", identity=link.email, limit=settings.PORTAL_RESEND_PER_HOUR, now=now or timezone.now())
    email = receipt_resend(payment=payment, created_by=actor_portal(link.public_id))
    audit_event(
        "portal_links", "receipt_resent", link=link.public_id, payment=payment.provider_id, email=email.public_id
    )
    return email
