"""Notifications: reads."""

from datetime import datetime

from django.utils import timezone

from echopilot.exceptions import get_or_not_found
from notifications.models import Email, Status, Suppression, TelegramMessage
from payments.models import Payment


def email_get(*, public_id: str) -> Email:
    return get_or_not_found(Email.objects, message="No email has this id.", public_id=public_id)


def email_due_ids(*, limit: int) -> list[int]:
    """Queued emails whose next attempt is due, oldest due first."""
    due = Email.objects.filter(status=Status.QUEUED, next_attempt_at__lte=timezone.now())
    return list(due.order_by("next_attempt_at", "id").values_list("id", flat=True)[:limit])


def telegram_due_ids(*, limit: int) -> list[int]:
    """Queued Telegram messages whose next attempt is due, in the order they were written."""
    due = TelegramMessage.objects.filter(status=Status.QUEUED, next_attempt_at__lte=timezone.now())
    return list(due.order_by("id").values_list("id", flat=True)[:limit])


def payments_owing_receipt(*, since: datetime, limit: int) -> list[Payment]:
    """Payments whose receipt is still owed and was claimed at or after ``since``, oldest claim first.

    Reads only the partial index of owed rows (``payment_receipt_owed``).
    """
    owed = Payment.objects.filter(receipt_owed=True, receipt_requested_at__gte=since)
    return list(owed.order_by("receipt_requested_at", "id")[:limit])


def suppressed_addresses(addresses: list[str]) -> set[str]:
    """Those of ``addresses`` (normalised) that are on the suppression list."""
    if not addresses:
        return set()
    return set(Suppression.objects.filter(address__in=addresses).values_list("address", flat=True))
