"""Customer portal: reads."""

from datetime import datetime

from django.db.models import QuerySet

from echopilot.exceptions import get_or_not_found
from payments.models import Payment
from payments.selectors import payment_list
from portal.models import PortalLink, PortalRevocation

# Payments that have a receipt in the portal: a pending or failed payment has nothing to show.
RECEIPT_STATUSES = (Payment.Status.SUCCEEDED, Payment.Status.REFUNDED)

# Keys of the portal's own session (request.portal_session, portal.middleware.PortalSessionMiddleware).
SESSION_EMAIL = "portal_email"
SESSION_LINK = "portal_link_id"
SESSION_EXPIRES = "portal_expires"
SESSION_FORM_TOKEN = "portal_form_token"  # noqa: S105 (a session key name, not a secret)
SESSION_NOTICE = "portal_notice"  # one message for the next page: [level, text]


def portal_link_get(*, link_id: str) -> PortalLink:
    return get_or_not_found(PortalLink.objects, message="No portal link has this id.", public_id=link_id)


def portal_link_usable(*, link: PortalLink, now: datetime) -> bool:
    """Not expired, not revoked, and issued after the last revoke-all of its email."""
    if link.revoked_at is not None or link.expires_at <= now:
        return False
    return not PortalRevocation.objects.filter(email=link.email, revoked_before__gte=link.created_at).exists()


def portal_session_link(*, session, now: datetime) -> PortalLink | None:
    """The link a portal session was opened with, while the session and the link still work."""
    link_id, expires = session.get(SESSION_LINK), session.get(SESSION_EXPIRES)
    if not isinstance(link_id, str) or not isinstance(expires, int) or now.timestamp() >= expires:
        return None
    link = PortalLink.objects.filter(public_id=link_id).first()
    if link is None or link.email != session.get(SESSION_EMAIL) or not portal_link_usable(link=link, now=now):
        return None
    return link


def portal_payment_list(*, email: str) -> QuerySet[Payment]:
    """The customer's payments, newest first."""
    return payment_list(email=email)


def portal_receipt_get(*, email: str, provider_id: str) -> Payment:
    """One of the customer's payments that has a receipt; ``NotFound`` for anything else (another customer's too)."""
    return get_or_not_found(
        Payment.objects,
        message="No receipt of yours has this id.",
        provider_id=provider_id,
        email=email,
        status__in=RECEIPT_STATUSES,
    )
