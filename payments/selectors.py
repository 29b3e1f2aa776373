"""Payments: the ledger's reads."""

from datetime import datetime

from django.db.models import QuerySet

from echopilot.exceptions import get_or_not_found
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
    return get_or_not_found(Payment.objects, message="No payment has this id.", provider_id=provider_id)
