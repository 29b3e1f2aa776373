"""Customer portal pages: open a signed link, see payments and receipts, resend a receipt, sign out.

Every response under /portal carries the headers of ``portal.middleware``.
"""

import secrets
from functools import wraps

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from echopilot.errors import ApiError
from notifications.rules import format_amount
from portal import selectors
from portal.selectors import SESSION_EMAIL, SESSION_EXPIRES, SESSION_FORM_TOKEN, SESSION_LINK
from portal.services import portal_link_open, portal_receipt_resend

PAGE_SIZE = 20


def _render(request, template: str, context: dict | None = None, status: int = 200):
    # Every variable the templates use is in the context: a failed lookup is logged (DEBUG) with the
    # request's repr, which holds the query string, and so the signature of the link being opened.
    context = {
        "link": getattr(request, "portal_link", None),
        "form_token": request.session.get(SESSION_FORM_TOKEN, ""),
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
        link = selectors.portal_session_link(session=request.session, now=timezone.now())
        if link is None:
            for key in (SESSION_EMAIL, SESSION_LINK, SESSION_EXPIRES, SESSION_FORM_TOKEN):
                request.session.pop(key, None)
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
        expected = request.session.get(SESSION_FORM_TOKEN)
        if not expected or not constant_time_compare(request.POST.get("portal_token", ""), expected):
            return _invalid(request)
        return view(request, *args, **kwargs)

    return wrapper


@require_safe
def link_open(request):
    link = portal_link_open(e=request.GET.getlist("e"), exp=request.GET.getlist("exp"), sig=request.GET.getlist("sig"))
    if link is None:
        return _invalid(request)
    request.session.cycle_key()
    request.session[SESSION_EMAIL] = link.email
    request.session[SESSION_LINK] = link.public_id
    request.session[SESSION_EXPIRES] = int(link.expires_at.timestamp())
    request.session[SESSION_FORM_TOKEN] = secrets.token_urlsafe(32)
    request.session.set_expiry(link.expires_at)
    return redirect("portal-home")


@require_safe
@portal_session
def home(request):
    payments = selectors.portal_payment_list(email=request.portal_link.email)
    page = Paginator(payments, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        {
            "payment": payment,
            "amount": format_amount(payment.amount, payment.currency),
            "has_receipt": payment.status in selectors.RECEIPT_STATUSES,
        }
        for payment in page
    ]
    return _render(request, "portal/home.html", {"page": page, "rows": rows})


@require_safe
@portal_session
def receipt(request, provider_id):
    payment = selectors.portal_receipt_get(email=request.portal_link.email, provider_id=provider_id)
    if payment is None:
        return _render(request, "portal/not_found.html", status=404)
    return _render(
        request, "portal/receipt.html", {"payment": payment, "amount": format_amount(payment.amount, payment.currency)}
    )


@portal_form
@portal_session
def receipt_send(request, provider_id):
    payment = selectors.portal_receipt_get(email=request.portal_link.email, provider_id=provider_id)
    if payment is None:
        return _render(request, "portal/not_found.html", status=404)
    try:
        portal_receipt_resend(link=request.portal_link, payment=payment)
    except ApiError as exc:
        if exc.error_code == "rate_limited":
            messages.error(request, "You have asked for receipts several times this hour. Please try again later.")
        else:
            messages.error(request, "We could not send it just now. Please try again in a few minutes.")
    else:
        messages.success(request, f"We are sending this receipt to {payment.email}.")
    return redirect("portal-receipt", provider_id=payment.provider_id)


@portal_form
def sign_out(request):
    request.session.flush()
    return _render(request, "portal/signed_out.html")
