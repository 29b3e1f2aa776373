"""Fill a demo database: payments, their webhook events, and the fraud checks that preceded them.

The command plays a shop's traffic in time order. Each purchase is first checked by the fraud
guard's own rules (``fraud.rules.decide`` under the current settings, with the guard's rolling
counters kept in memory); a blocked attempt stays a check, anything else becomes a payment and
the webhook event that recorded it. A few card-testing bursts (one fresh card, many small
attempts within minutes) run into the velocity limit, a few large orders go to review, and
reviews older than two days are mostly closed. So a demo install has a review queue,
``fraud_backtest`` finds no changed decision under the settings the demo data was made with, and the
dashboard's charts have data.

Writing never holds SQLite's write lock for long: the rows are generated outside the
transaction and committed in batches sized, from the previous batch's time, to hold the lock
about ``--batch-seconds``; the service keeps answering while the command runs. Each batch is
whole (payments with their events, checks with their reviews) and its audit lines are written
when it commits, so an interrupted run leaves only complete batches behind.
"""

import random
import secrets
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import islice

from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, transaction
from django.utils import timezone

from echopilot.actors import actor_command
from echopilot.audit import audit_events
from echopilot.money import amount_from_minor, currency_exponent
from echopilot.progress import progress
from fraud.models import FraudCheck, FraudReview
from fraud.rules import ALLOW, BLOCK, REVIEW, Facts, RuleConfig, canonical_email, decide
from fraud.selectors import DAILY_WINDOW, VELOCITY_WINDOW, card_key_for
from payments.models import Payment, WebhookEvent

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
BURST_RATE = 0.001  # per purchase: a card-testing burst starts instead
LARGE_ORDER_RATE = 0.002  # per purchase: an order above the review amount
REVIEW_BACKLOG = timedelta(days=2)  # reviews younger than this are still open
REVIEW_CLOSED_SHARE = 0.9  # of the older ones
SEEDED_BY = actor_command("seed_demo")
MAX_PAYMENTS = 10_000_000  # one customer per 20 payments is held in memory
MAX_DAYS = 3650

FIRST_BATCH = 200  # records (one attempt: its check, payment, event, review) in the first batch
MAX_BATCH = 20_000
# A writer waiting for SQLite's lock polls at most every 100 ms (sqlite3_busy_timeout's handler).
LOCK_GAP_SECONDS = 0.1


@dataclass
class Record:
    """One attempt to pay: the guard's check, and the payment it let through (with its event and review)."""

    check: FraudCheck
    payment: Payment | None = None
    event: WebhookEvent | None = None
    review: FraudReview | None = None


class Command(BaseCommand):
    help = (
        "Fill the database with demo payments, their webhook events (a few failed, their payments left "
        "pending for replay_webhooks), the fraud checks before them (some blocked, some in review) and one "
        "customer per 20 payments (at least 100). Commits in short batches, so the service keeps answering."
    )

    def add_arguments(self, parser):
        parser.add_argument("--payments", type=int, default=1000, help="How many payments (default 1000).")
        parser.add_argument("--days", type=int, default=30, help="Spread over the past D days (default 30).")
        parser.add_argument(
            "--seed", type=int, default=None, help="Random seed of the demo data: the same seed, the same data."
        )
        parser.add_argument(
            "--batch-seconds",
            type=float,
            default=0.25,
            help="How long one batch may hold the database's write lock, roughly (default 0.25 s).",
        )

    def handle(self, *args, payments, days, seed, batch_seconds, **options):
        if not 1 <= payments <= MAX_PAYMENTS or not 1 <= days <= MAX_DAYS:
            raise CommandError(f"--payments must be 1 to {MAX_PAYMENTS:,} and --days 1 to {MAX_DAYS:,}.")
        if not 0.01 <= batch_seconds <= 10:
            raise CommandError("--batch-seconds must be between 0.01 and 10.")
        seed = secrets.randbits(32) if seed is None else seed
        rng = random.Random(seed)
        # Ids come from their own stream, so the same seed repeats its first ids whatever the other options.
        ids = random.Random(f"{seed}:ids")
        customers = [_customer(rng, index) for index in range(max(100, payments // 20))]
        now = timezone.now()
        config = RuleConfig.from_settings()
        records = _records(rng, ids, customers, config=config, count=payments, now=now, days=days)
        totals: Counter = Counter()
        size, commits, longest, committed = FIRST_BATCH, 0, 0.0, 0.0
        with progress(total=payments, label="seed_demo", unit="payments", stream=self.stderr) as bar:
            while batch := list(islice(records, size)):  # generated outside the transaction
                # Leave the lock free long enough for a writer polling on SQLite's busy timeout to get it.
                time.sleep(max(0.0, committed + LOCK_GAP_SECONDS - time.monotonic()))
                started = time.monotonic()
                try:
                    with transaction.atomic():
                        _write(batch)
                except IntegrityError:
                    raise CommandError(
                        "These demo ids exist already; run with another --seed or on an empty database"
                        + (f" ({totals['payments']} payments of this run were committed before)." if commits else ".")
                    ) from None
                committed = time.monotonic()
                held = committed - started
                commits, longest = commits + 1, max(longest, held)
                # The next batch holds the lock about batch_seconds: scaled by this one's time, at most doubled.
                size = max(1, min(MAX_BATCH, 2 * size, int(size * batch_seconds / max(held, 0.001))))
                totals.update(_count(batch))
                bar.update(sum(record.payment is not None for record in batch))
        self.stdout.write(
            self.style.SUCCESS(
                f"seeded {totals['payments']} payments of {len(customers)} customers over {days} days (seed {seed}), "
                f"{totals['payments']} webhook events ({totals['failed_events']} failed), "
                f"{totals['checks']} fraud checks ({totals[ALLOW]} allowed, {totals[REVIEW]} in review, "
                f"{totals[BLOCK]} blocked; {totals['open_reviews']} reviews open), "
                f"in {commits} commits holding the write lock at most {longest:.2f} s each"
            )
        )


def _write(batch: list[Record]) -> None:
    """One batch in the current transaction; its audit lines go out when it commits."""
    payments = [record.payment for record in batch if record.payment]
    events = [record.event for record in batch if record.event]
    checks = [record.check for record in batch]
    Payment.objects.bulk_create(payments)
    WebhookEvent.objects.bulk_create(events)
    FraudCheck.objects.bulk_create(checks)  # sets their pks, which the reviews refer to
    FraudReview.objects.bulk_create([record.review for record in batch if record.review])
    audit_events(
        "payments",
        "demo_seeded",
        (
            {
                "event_id": r.event.event_id,
                "type": r.event.type,
                "status": r.event.status,
                "payment_id": r.payment.provider_id,
            }
            for r in batch
            if r.event
        ),
    )
    audit_events(
        "fraud_guard",
        "demo_seeded",
        (
            {
                "check_id": r.check.check_id,
                "email": r.check.email,
                "amount": r.check.amount,
                "currency": r.check.currency,
                "decision": r.check.decision,
                "reason": r.check.reason,
                "payment_id": r.check.payment_ref or None,
                "review": r.review.state if r.review else None,
            }
            for r in batch
        ),
    )


def _count(batch: list[Record]) -> Counter:
    counts = Counter(record.check.decision for record in batch)
    counts["checks"] = len(batch)
    counts["payments"] = sum(record.payment is not None for record in batch)
    counts["failed_events"] = sum(bool(r.event) and r.event.status == WebhookEvent.Status.FAILED for r in batch)
    counts["open_reviews"] = sum(bool(r.review) and r.review.state == FraudReview.State.OPEN for r in batch)
    return counts


def _customer(rng: random.Random, index: int) -> tuple[str, list[tuple[str, str]]]:
    email = f"{rng.choice(FIRST)}.{rng.choice(LAST)}{index}@{rng.choice(DOMAINS)}"
    cards = [(rng.choices(*CARDS)[0], f"fp_{rng.getrandbits(64):016x}") for _ in range(rng.choice((1, 1, 2)))]
    return email, cards


class _Guard:
    """The guard's decision for each attempt, with its rolling counters kept in memory.

    Attempts must come in time order per card and per email: velocity counts every earlier
    check of the card in the past hour, the daily sum the allowed and review amounts of the
    canonical email and currency in the past 24 hours (windows open at their start), as
    ``fraud_check_create`` counts them and ``fraud_backtest`` replays them. List entries are
    not consulted: a demo database has none; nor are the card-testing signals (off by default):
    the demo's customers keep to one or two cards and one email each.
    """

    def __init__(self, config: RuleConfig, ids: random.Random):
        self.config, self.ids = config, ids
        self.card_seen: dict[str, deque] = defaultdict(deque)
        self.daily_seen: dict[tuple, deque] = defaultdict(deque)
        self.daily_sum: dict[tuple, Decimal] = defaultdict(Decimal)

    def check(self, *, email: str, amount: Decimal, currency: str, card_type: str, fingerprint: str, at: datetime):
        email_key = canonical_email(email, self.config.dot_domains)
        card_key = card_key_for(email_key=email_key, card_fingerprint=fingerprint)
        seen = self.card_seen[card_key]
        while seen and seen[0] <= at - VELOCITY_WINDOW:
            seen.popleft()
        key = (email_key, currency)
        window = self.daily_seen[key]
        while window and window[0][0] <= at - DAILY_WINDOW:
            self.daily_sum[key] -= window.popleft()[1]
        recent, daily = len(seen), self.daily_sum[key]
        decision = decide(
            Facts(email=email, amount=amount, card_type=card_type, recent_count=recent, daily_total=daily), self.config
        )
        seen.append(at)
        if decision.outcome in (ALLOW, REVIEW):
            window.append((at, amount))
            self.daily_sum[key] += amount
        return FraudCheck(
            check_id=f"fc_{self.ids.getrandbits(80):020x}",
            email=email,
            amount=amount,
            currency=currency,
            card_type=card_type,
            card_fingerprint=fingerprint,
            card_key=card_key,
            email_key=email_key,
            payment_ref=f"pi_{self.ids.getrandbits(96):024x}",  # the caller's payment intent, made before the check
            decision=decision.outcome,
            reason=decision.reason,
            rule=decision.rule,
            observed={**decision.observed, "ours_recent_count": recent, "ours_daily_total": f"{daily:.2f}"},
            limit=decision.limit or "",
            ruleset_version=self.config.version,
            created_by=SEEDED_BY,
            created_at=at,
        )


def _records(rng, ids, customers, *, config: RuleConfig, count: int, now: datetime, days: int) -> Iterator[Record]:
    """Attempts in time order until ``count`` payments went through.

    The purchase times are the order statistics of uniform times over the period, drawn one
    after the other: with ``m`` payments still to come after position ``x`` (0..1), the next
    lies at ``x + (1 - x)(1 - V^(1/m))``. A blocked attempt does not use up a payment.
    """
    guard = _Guard(config, ids)
    start, span = now - timedelta(days=days), timedelta(days=days) - timedelta(minutes=5)
    position, made, bursts = 0.0, 0, 0
    while made < count:
        position += (1 - position) * (1 - rng.random() ** (1 / (count - made)))
        at = start + span * position
        if rng.random() < BURST_RATE and at < now - timedelta(hours=1):
            bursts += 1
            for record in _burst(rng, ids, guard, config=config, number=bursts, at=at, limit=count - made):
                made += record.payment is not None
                yield record
            continue
        email, cards = rng.choice(customers)
        card_type, fingerprint = rng.choice(cards)
        (currency, rate), status = rng.choices(*CURRENCIES)[0], rng.choices(*STATUSES)[0]
        if rng.random() < LARGE_ORDER_RATE:
            scale = 10 ** currency_exponent(currency)
            low = int(config.review_amount * scale)
            minor = rng.randint(max(100, low * 8 // 10), max(200, low * 18 // 10))
        else:
            minor = round(max(100, rng.lognormvariate(8.2, 0.9)) * rate)
        amount = amount_from_minor(minor, currency)
        check = guard.check(
            email=email, amount=amount, currency=currency, card_type=card_type, fingerprint=fingerprint, at=at
        )
        if check.decision == BLOCK:
            yield Record(check)
            continue
        record = Record(check)
        refunded_at = None
        if check.decision == REVIEW:
            record.review = _review(rng, check=check, now=now)
            if record.review.state == FraudReview.State.REJECTED:
                status, refunded_at = Payment.Status.REFUNDED, record.review.closed_at
            elif status == Payment.Status.REFUNDED:
                status = Payment.Status.SUCCEEDED
        record.payment, record.event = _payment(
            rng,
            ids,
            check,
            minor=minor,
            status=status,
            created=at + timedelta(seconds=rng.uniform(1, 20)),
            refunded_at=refunded_at,
        )
        made += 1
        yield record


def _burst(rng, ids, guard: _Guard, *, config: RuleConfig, number: int, at: datetime, limit: int) -> Iterator[Record]:
    """Card testing: one fresh card tries small amounts every few seconds until the velocity rule blocks it.

    The card and its email are new, so the burst's counters are its own and the attempts
    may be decided ahead of the purchases between them.
    """
    email = f"{rng.choice(FIRST)}{number}.{rng.getrandbits(24):06x}@{rng.choice(DOMAINS)}"
    card_type, fingerprint = rng.choice(CARDS[0]), f"fp_{rng.getrandbits(64):016x}"
    made = 0
    for _ in range(config.max_per_hour + rng.randint(1, 5)):
        at += timedelta(seconds=rng.uniform(5, 90))
        minor = rng.randint(100, 500)
        check = guard.check(
            email=email,
            amount=amount_from_minor(minor, "usd"),
            currency="usd",
            card_type=card_type,
            fingerprint=fingerprint,
            at=at,
        )
        record = Record(check)
        if check.decision != BLOCK:
            if made == limit:
                return
            status = Payment.Status.SUCCEEDED if rng.random() < 0.2 else Payment.Status.FAILED
            record.payment, record.event = _payment(
                rng,
                ids,
                check,
                minor=minor,
                status=status,
                created=at + timedelta(seconds=rng.uniform(1, 5)),
                failure=FAILURES[0],
            )
            made += 1
        yield record


def _review(rng: random.Random, *, check: FraudCheck, now: datetime) -> FraudReview:
    """The rule's review of a check: open while young, mostly closed when older (a few rejected as fraud)."""
    at = check.created_at
    review = FraudReview(fraud_check=check, opened_reason=FraudReview.Opened.RULE, opened_at=at)
    if at < now - REVIEW_BACKLOG and rng.random() < REVIEW_CLOSED_SHARE:
        approve = rng.random() < 0.8
        review.state = FraudReview.State.APPROVED if approve else FraudReview.State.REJECTED
        review.resolution = "" if approve else rng.choice(FraudReview.Resolution.values)
        review.note = "Demo: customer history looks normal." if approve else "Demo: refunded after review."
        review.closed_by = SEEDED_BY
        review.closed_at = at + timedelta(seconds=rng.uniform(600, 36 * 3600))
    return review


def _payment(
    rng: random.Random,
    ids: random.Random,
    check: FraudCheck,
    *,
    minor: int,
    status: str,
    created: datetime,
    refunded_at: datetime | None = None,
    failure: tuple[str, str] | None = None,
) -> tuple[Payment, WebhookEvent]:
    """The payment the check let through and the webhook event that recorded its last change, as Stripe sends it."""
    email, currency, card_type, fingerprint = check.email, check.currency, check.card_type, check.card_fingerprint
    provider_id = check.payment_ref
    if status == Payment.Status.FAILED:
        failure_code, failure_message = failure or rng.choice(FAILURES)
    else:
        failure_code, failure_message = "", ""
    charge = {
        "id": f"ch_{ids.getrandbits(96):024x}",
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
    received = (refunded_at or created) + timedelta(seconds=rng.uniform(1, 5))
    event_failed = status == Payment.Status.SUCCEEDED and rng.random() < EVENT_FAILURE_RATE
    payment = Payment(
        provider_id=provider_id,
        email=email,
        amount=check.amount,
        currency=currency,
        status=Payment.Status.PENDING if event_failed else status,
        card_type=card_type,
        card_fingerprint=fingerprint,
        failure_code=failure_code,
        failure_message=failure_message,
        receipt_requested_at=received if status != Payment.Status.FAILED and not event_failed else None,
        receipt_owed=False,  # demo customers are made up: the email sweep sends them no receipts
        created_at=created,
        updated_at=received,
    )
    event_id = f"evt_{ids.getrandbits(96):024x}"
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
