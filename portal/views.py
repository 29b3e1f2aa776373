"""Customer portal pages: open a signed link, see payments and receipts, resend a receipt, sign out.

Every response under /portal carries the headers of ``portal.middleware``. The portal's state
lives in its own session, ``request.portal_session`` (cookie ``portal_session``, path /portal);
``request.session``, the admin's, is never used here, and neither are Django's messages (which
an admin's pages share): a notice for the next page is kept in the portal session.
"""

import secrets
from functools import wraps

from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from echopilot.exceptions import ApplicationError, NotFound, RateLimited
from portal import selectors
from portal.selectors import SESSION_EMAIL, SESSION_EXPIRES, SESSION_FORM_TOKEN, SESSION_LINK, SESSION_NOTICE
from portal.services import portal_link_open, portal_receipt_resend

PAGE_SIZE = 20


def _render(request, template: str, context: dict | None = None, status: int = 200):
    # Every variable the templates use is in the context: a failed lookup is logged (DEBUG) with the
    # request's repr, which holds the query string, and so the signature of the link being opened.
    notice = request.portal_session.pop(SESSION_NOTICE, None)
    context = {
        "link": getattr(request, "portal_link", None),
        "form_token": request.portal_session.get(SESSION_FORM_TOKEN, ""),
        "notice": {"level": notice[0], "text": notice[1]} if notice else None,
        **(context or {}),
    }
    return render(request, template, context, status=status)


def _invalid(request):
    """One page, one body, for every link that does not work and every visit without a session."""
    return _render(request, "portal/invalid.html", status=403)


def portal_session(view):
    """The page needs a session whose link still works (not expired, not revoked): ``request.portal_link``."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        link = selectors.portal_session_link(session=request.portal_session, now=timezone.now())
        if link is None:
            request.portal_session.flush()
            return _invalid(request)
        request.portal_link = link
        return view(request, *args, **kwargs)

    return wrapper


def portal_form(view):
    """A POST from the portal's own pages: it carries the session's form token.

    This replaces Django's CSRF check for the portal, which refuses the ``Origin: null``
    that browsers send under ``Referrer-Policy: no-referrer``. The token is random, bound
    to the session, and compared in constant time; the session cookie is SameSite=Lax too.
    """

    @csrf_exempt
    @require_POST
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        expected = request.portal_session.get(SESSION_FORM_TOKEN)
        if not expected or not constant_time_compare(request.POST.get("portal_token", ""), expected):
            return _invalid(request)
        return view(request, *args, **kwargs)

    return wrapper


@require_safe
def link_open(request):
    link = portal_link_open(e=request.GET.getlist("e"), exp=request.GET.getlist("exp"), sig=request.GET.getlist("sig"))
    if link is None:
        return _invalid(request)
    session = request.portal_session
    session.flush()  # a new session under a new key, whatever the browser had before (no fixation)
    session[SESSION_EMAIL] = link.email
    session[SESSION_LINK] = link.public_id
    session[SESSION_EXPIRES] = int(link.expires_at.timestamp())
    session[SESSION_FORM_TOKEN] = secrets.token_urlsafe(32)
    session.set_expiry(link.expires_at)
    return redirect("portal-home")


@require_safe
@portal_session
def home(request):
    payments = selectors.portal_payment_list(email=request.portal_link.email)
    page = Paginator(payments, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        {
            "payment": payment,
            "has_receipt": payment.status in selectors.RECEIPT_STATUSES,
        }
        for payment in page
    ]
    return _render(request, "portal/home.html", {"page": page, "rows": rows})


@require_safe
@portal_session
def receipt(request, provider_id):
    try:
        payment = selectors.portal_receipt_get(email=request.portal_link.email, provider_id=provider_id)
    except NotFound:
        return _render(request, "portal/not_found.html", status=404)
    return _render(request, "portal/receipt.html", {"payment": payment})


@portal_form
@portal_session
def receipt_send(request, provider_id):
    try:
        payment = selectors.portal_receipt_get(email=request.portal_link.email, provider_id=provider_id)
    except NotFound:
        return _render(request, "portal/not_found.html", status=404)
    try:
        portal_receipt_resend(link=request.portal_link, payment=payment)
    except RateLimited:
        notice = ["error", "You have asked for receipts several times this hour. Please try again later."]
    except ApplicationError:
        notice = ["error", "We could not send it just now. Please try again in a few minutes."]
    else:
        notice = ["success", f"We are sending this receipt to {payment.email}."]
    request.portal_session[SESSION_NOTICE] = notice
    return redirect("portal-receipt", provider_id=payment.provider_id)


@portal_form
def sign_out(request):
    request.portal_session.flush()
    return _render(request, "portal/signed_out.html")
