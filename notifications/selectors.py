"""Notifications: reads."""

from datetime import datetime

from django.db.models import CharField, Exists, OuterRef, Value
from django.db.models.functions import Concat
from django.utils import timezone

from echopilot.exceptions import get_or_not_found
from notifications.models import Email, Status, TelegramMessage
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
    """Payments whose receipt was claimed at or after ``since`` and has no email yet, oldest claim first."""
    receipt = Email.objects.filter(
        payment=OuterRef("pk"),
        idempotency_key=Concat(Value("receipt:"), OuterRef("provider_id"), output_field=CharField()),
    )
    owed = Payment.objects.filter(receipt_requested_at__gte=since).exclude(email="").exclude(Exists(receipt))
    return list(owed.order_by("receipt_requested_at", "id")[:limit])
