"""Notifications: reads."""

from datetime import datetime

from django.utils import timezone

from echopilot.errors import ApiError
from notifications.models import Email, Status, TelegramMessage
from payments.models import Payment


def email_get(*, public_id: str) -> Email:
    email = Email.objects.filter(public_id=public_id).first()
    if email is None:
        raise ApiError("No email has this id.", code="not_found", status_code=404)
    return email


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
