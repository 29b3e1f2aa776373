"""Payments: the ledger's reads."""

from datetime import datetime

from django.db.models import QuerySet

from echopilot.errors import ApiError
from payments.models import Payment


def payment_list(
    *, email: str | None = None, status: str | None = None, since: datetime | None = None, until: datetime | None = None
) -> QuerySet[Payment]:
    """Payments newest first; ``since`` is inclusive, ``until`` exclusive."""
    payments = Payment.objects.order_by("-created_at", "-id")
    if email:
        payments = payments.filter(email=email)
    if status:
        payments = payments.filter(status=status)
    if since:
        payments = payments.filter(created_at__gte=since)
    if until:
        payments = payments.filter(created_at__lt=until)
    return payments


def payment_get(*, provider_id: str) -> Payment:
    payment = Payment.objects.filter(provider_id=provider_id).first()
    if payment is None:
        raise ApiError("No payment has this id.", code="not_found", status_code=404)
    return payment
