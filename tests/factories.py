"""Rows for tests, written directly: one plain function per model, keyword arguments, defaults that make a valid row.

Every other field is passed through to ``objects.create``. Rows that only a service can make correctly (portal links,
API keys: hashed secrets) come from that service.
"""

from datetime import UTC, datetime
from decimal import Decimal
from email.utils import make_msgid
from itertools import count

from django.contrib.auth.models import Permission, User
from django.utils import timezone
from django_q.models import Schedule

from echopilot.keys import api_key_create
from echopilot.models import ApiKey, Heartbeat
from echopilot.taskqueue import HEARTBEAT_FUNC
from fraud.models import FraudCheck, FraudReview
from fraud.rules import canonical_email
from notifications.models import Email, Status, TelegramMessage
from observability.models import Alert, Snapshot
from payments.models import Payment, WebhookEvent, WebhookRejection
from portal.models import PortalLink
from portal.services import portal_link_create
from tests.constants import CUSTOMER

_serial = count(1)


def make_user(username: str = "staff", *, permissions=(), password: str | None = None, is_staff: bool = True) -> User:
    """A user holding exactly ``permissions`` ("app_label.codename"); staff unless told otherwise."""
    user = User.objects.create_user(username, password=password, is_staff=is_staff)
    for name in permissions:
        app_label, codename = name.split(".", 1)
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user


def make_api_key(*, name: str = "test-key", expires_at: datetime | None = None) -> tuple[ApiKey, str]:
    """A named API key and the key itself (for X-Dash-Key)."""
    return api_key_create(name=name, expires_at=expires_at)


def make_heartbeat(*, node: str = "n", pid: int = 1, created_at: datetime | None = None) -> Heartbeat:
    return Heartbeat.objects.create(node=node, pid=pid, created_at=created_at or timezone.now())


def make_schedule(
    name: str = "heartbeat", *, func: str = HEARTBEAT_FUNC, minutes: int = 1, next_run: datetime | None = None
) -> Schedule:
    """A django-q2 schedule every ``minutes``; ``next_run`` is written after the save, which would compute its own."""
    row = Schedule.objects.create(name=name, func=func, schedule_type=Schedule.MINUTES, minutes=minutes, repeats=-1)
    if next_run is not None:
        Schedule.objects.filter(pk=row.pk).update(next_run=next_run)
        row.refresh_from_db()
    return row


def make_payment(
    provider_id: str | None = None,
    *,
    email: str = CUSTOMER,
    amount: Decimal | str = Decimal("10.00"),
    currency: str = "usd",
    status: str = Payment.Status.SUCCEEDED,
    created_at: datetime = datetime(2026, 1, 1, 12, tzinfo=UTC),
    **fields,
) -> Payment:
    return Payment.objects.create(
        provider_id=provider_id or f"pi_test_{next(_serial)}",
        email=email,
        amount=amount,
        currency=currency,
        status=status,
        created_at=created_at,
        **fields,
    )


def make_webhook_event(
    payload: dict | None = None, *, status: str = WebhookEvent.Status.PROCESSED, **fields
) -> WebhookEvent:
    """A stored webhook event; its id and type are the payload's (a Stripe event, tests/payments/stripe_events.py)."""
    payload = {} if payload is None else payload
    values = {"event_id": payload.get("id", ""), "type": payload.get("type", ""), **fields}
    return WebhookEvent.objects.create(payload=payload, status=status, **values)


def make_webhook_rejection(
    *, reason: str = WebhookRejection.Reason.INVALID_SIGNATURE, minute: datetime | None = None, count: int = 1, **fields
) -> WebhookRejection:
    minute = minute or timezone.now().replace(second=0, microsecond=0)
    return WebhookRejection.objects.create(reason=reason, minute=minute, count=count, **fields)


def make_fraud_check(*, decision: str = "allow", **fields) -> FraudCheck:
    """A stored check with the decision given, as if the guard had made it (no rules run)."""
    values = {
        "email": "a@example.com",
        "email_key": canonical_email(fields.get("email", "a@example.com")),
        "amount": Decimal("1.00"),
        "currency": "usd",
        "card_type": "credit",
        "card_key": "k",
        "reason": "r",
        "rule": "r",
        "ruleset_version": "v",
        **fields,
    }
    return FraudCheck.objects.create(decision=decision, **values)


def make_fraud_review(*, fraud_check: FraudCheck | None = None, **fields) -> FraudReview:
    fraud_check = fraud_check or make_fraud_check(decision="review")
    values = {"opened_reason": FraudReview.Opened.RULE, **fields}
    return FraudReview.objects.create(fraud_check=fraud_check, **values)


def make_email(**fields) -> Email:
    """A queued email written directly, as if its enqueue had been lost."""
    defaults = {
        "to": [CUSTOMER],
        "subject": "Hello",
        "body": "Plain text.",
        "status": Status.QUEUED,
        "message_id": make_msgid(domain="echopilot.ai"),
    }
    return Email.objects.create(**{**defaults, **fields})


def make_telegram_message(
    *, chat_id: str = "1", text: str = "t", status: str = Status.QUEUED, **fields
) -> TelegramMessage:
    return TelegramMessage.objects.create(chat_id=chat_id, text=text, status=status, **fields)


def make_portal_link(*, email: str = CUSTOMER, created_by: str = "test", **options) -> tuple[PortalLink, str]:
    """A link issued by the portal (its signature is the service's); returns the row and its path (``/portal?...``)."""
    return portal_link_create(email=email, created_by=created_by, **options)


def make_snapshot(*, taken_at: datetime | None = None, data: dict | None = None) -> Snapshot:
    return Snapshot.objects.create(taken_at=taken_at or timezone.now(), data={} if data is None else data)


def make_alert(
    rule: str = "webhook_failures",
    *,
    status: str = Alert.Status.FIRING,
    severity: str = Alert.Severity.CRITICAL,
    started_at: datetime | None = None,
    **fields,
) -> Alert:
    started_at = started_at or timezone.now()
    values = {"summary": "", "last_evaluated_at": started_at, **fields}
    return Alert.objects.create(rule=rule, status=status, severity=severity, started_at=started_at, **values)
