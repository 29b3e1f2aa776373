import random
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, transaction
from django.utils import timezone
from tqdm import tqdm

from echopilot.audit import audit_events
from payments.models import Payment, WebhookEvent
from payments.rules import amount_from_minor

FIRST = ["ada", "ben", "chloe", "dan", "eva", "finn", "grace", "hugo", "ines", "jon", "kai", "lea", "mia", "noah"]
LAST = ["smith", "garcia", "muller", "rossi", "tanaka", "kim", "silva", "novak", "dubois", "jensen", "kowalski"]
DOMAINS = ["example.com", "example.org", "example.net"]
STATUSES = ([Payment.Status.SUCCEEDED, Payment.Status.FAILED, Payment.Status.REFUNDED], [92, 3, 5])
CARDS = (
    [Payment.CardType.CREDIT, Payment.CardType.DEBIT, Payment.CardType.PREPAID, Payment.CardType.UNKNOWN],
    [60, 34, 3, 3],
)
# Currency, weight, minor units per US cent.
CURRENCIES = ([("usd", 1.0), ("eur", 0.92), ("gbp", 0.79), ("jpy", 1.5)], [80, 10, 7, 3])
FAILURES = [
    ("card_declined", "Your card was declined."),
    ("insufficient_funds", "Your card has insufficient funds."),
    ("expired_card", "Your card has expired."),
    ("incorrect_cvc", "Your card's security code is incorrect."),
]
EVENT_FAILURE_RATE = 0.002


class Command(BaseCommand):
    help = (
        "Fill the database with demo payments, their webhook events (a few failed, their payments "
        "left pending for replay_webhooks) and one customer per 20 payments (at least 100)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--payments", type=int, default=1000, help="How many payments (default 1000).")
        parser.add_argument("--days", type=int, default=30, help="Spread over the past D days (default 30).")
        parser.add_argument("--seed", type=int, default=None, help="Random seed, for the same data every time.")
        parser.add_argument("--batch-size", type=int, default=5000)

    def handle(self, *args, payments, days, seed, batch_size, **options):
        if payments < 1 or days < 1 or batch_size < 1:
            raise CommandError("--payments, --days and --batch-size must be at least 1.")
        rng = random.Random(seed)
        customers = [_customer(rng, index) for index in range(max(100, payments // 20))]
        now = timezone.now()
        failed_events = 0
        try:
            with transaction.atomic(), tqdm(total=payments, unit="payment", disable=None) as bar:
                for start in range(0, payments, batch_size):
                    rows = [_payment(rng, customers, now, days) for _ in range(min(batch_size, payments - start))]
                    Payment.objects.bulk_create([payment for payment, _ in rows], batch_size=batch_size)
                    WebhookEvent.objects.bulk_create([event for _, event in rows], batch_size=batch_size)
                    audit_events(  # written when the whole seed commits, like any event's line
                        "payments",
                        "demo_seeded",
                        (
                            {"event_id": e.event_id, "type": e.type, "status": e.status, "payment_id": p.provider_id}
                            for p, e in rows
                        ),
                    )
                    failed_events += sum(event.status == WebhookEvent.Status.FAILED for _, event in rows)
                    bar.update(len(rows))
        except IntegrityError:
            raise CommandError(
                "These demo ids exist already; run with another --seed or on an empty database."
            ) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"seeded {payments} payments of {len(customers)} customers over {days} days, "
                f"{payments} webhook events ({failed_events} failed)"
            )
        )


def _customer(rng: random.Random, index: int) -> tuple[str, list[tuple[str, str]]]:
    email = f"{rng.choice(FIRST)}.{rng.choice(LAST)}{index}@{rng.choice(DOMAINS)}"
    cards = [(rng.choices(*CARDS)[0], f"fp_{rng.getrandbits(64):016x}") for _ in range(rng.choice((1, 1, 2)))]
    return email, cards


def _payment(rng: random.Random, customers, now, days: int) -> tuple[Payment, WebhookEvent]:
    """One payment and the webhook event that recorded its last change, as Stripe would have sent it."""
    email, cards = rng.choice(customers)
    card_type, fingerprint = rng.choice(cards)
    (currency, rate), status = rng.choices(*CURRENCIES)[0], rng.choices(*STATUSES)[0]
    minor = round(max(100, rng.lognormvariate(8.2, 0.9)) * rate)
    created = now - timedelta(seconds=rng.uniform(60, days * 86400))
    provider_id = f"pi_{rng.getrandbits(96):024x}"
    failure_code, failure_message = rng.choice(FAILURES) if status == Payment.Status.FAILED else ("", "")
    charge = {
        "id": f"ch_{rng.getrandbits(96):024x}",
        "object": "charge",
        "amount": minor,
        "currency": currency,
        "created": int(created.timestamp()),
        "payment_intent": provider_id,
        "billing_details": {"email": email},
        "payment_method_details": {"type": "card", "card": {"funding": card_type, "fingerprint": fingerprint}},
    }
    if status == Payment.Status.REFUNDED:
        event_type, data = "charge.refunded", {**charge, "refunded": True, "amount_refunded": minor}
    else:
        event_type = (
            "payment_intent.succeeded" if status == Payment.Status.SUCCEEDED else "payment_intent.payment_failed"
        )
        data = {
            "id": provider_id,
            "object": "payment_intent",
            "amount": minor,
            "amount_received": minor if status == Payment.Status.SUCCEEDED else 0,
            "currency": currency,
            "created": int(created.timestamp()),
            "receipt_email": email,
            "latest_charge": charge,
            "last_payment_error": {"code": failure_code, "message": failure_message} if failure_code else None,
        }
    received = created + timedelta(seconds=rng.uniform(1, 5))
    event_failed = status == Payment.Status.SUCCEEDED and rng.random() < EVENT_FAILURE_RATE
    payment = Payment(
        provider_id=provider_id,
        email=email,
        amount=amount_from_minor(minor, currency),
        currency=currency,
        status=Payment.Status.PENDING if event_failed else status,
        card_type=card_type,
        card_fingerprint=fingerprint,
        failure_code=failure_code,
        failure_message=failure_message,
        receipt_requested_at=received if status != Payment.Status.FAILED and not event_failed else None,
        created_at=created,
        updated_at=received,
    )
    event_id = f"evt_{rng.getrandbits(96):024x}"
    event = WebhookEvent(
        event_id=event_id,
        type=event_type,
        status=WebhookEvent.Status.FAILED if event_failed else WebhookEvent.Status.PROCESSED,
        attempts=rng.randint(1, 3) if event_failed else 1,
        last_error="OperationalError: database is locked" if event_failed else "",
        payload={
            "id": event_id,
            "object": "event",
            "type": event_type,
            "created": int(received.timestamp()),
            "data": {"object": data},
        },
        received_at=received,
        updated_at=received,
    )
    return payment, event
