"""Reads of the fraud guard: what the rules need, read under the check's locks, and what reviewers see."""

import hashlib
import itertools
import re
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count, Min, Q, Sum

from echopilot.exceptions import get_or_not_found
from echopilot.money import CENT
from fraud.models import FraudCheck, FraudReview, ListEntry
from fraud.rules import email_domain
from payments.models import Payment

VELOCITY_WINDOW = timedelta(hours=1)
DAILY_WINDOW = timedelta(hours=24)
MONTHLY_WINDOW = timedelta(days=30)
NEVER = timedelta(days=365 * 100)  # the start of an off signal's window: nothing is that new


def card_key_for(*, email_key: str, card_fingerprint: str) -> str:
    """What "the same card" means: the fingerprint, else the canonical email (``fraud.rules.canonical_email``)."""
    return f"card:{card_fingerprint}" if card_fingerprint else f"email:{email_key}"


# The one query of every check is written in SQL: Django's query compilation
# cost several times its execution (measured 3.7 ms against 0.6 ms per check
# for the counters alone), and it is plain enough to read. Parameters go
# through the backend's own adapters, so SQLite's stored UTC text and
# PostgreSQL's timestamptz compare correctly.
#
# The windows have no upper bound on purpose: a check that took the lock
# before ours may carry a timestamp a moment later than ours, and it counts.
#
# Every count is a range scan of one index: the card's (fraud_card_time), the
# canonical email's (fraud_email_key_time), the IP's (fraud_ip_time, partial:
# only checks that sent one) and the card's declined payments
# (payment_card_declined, partial: failed payments with a fingerprint). A
# signal that is off is given a window that starts in the far future: its
# index range is empty, so it costs next to nothing, and the statement stays
# one prepared plan whatever the settings.
#
# The last two read which stored rule sets are active and in shadow (at most one
# each, fraud_one_active_ruleset and fraud_one_shadow_ruleset): this is how every
# node learns of an activation at its next check (``fraud.rulesets``).
_FACTS_SQL = """
SELECT
  (SELECT COUNT(*) FROM fraud_fraudcheck
    WHERE card_key = %s AND created_at > %s),
  (SELECT SUM(amount) FROM fraud_fraudcheck
    WHERE email_key = %s AND currency = %s AND decision IN ('allow', 'review') AND created_at > %s),
  (SELECT {concat}(action || ':' || kind, ',') FROM fraud_listentry
    WHERE ((kind = 'email' AND value = %s) OR (kind = 'domain' AND value = %s) OR (kind = 'card' AND value = %s))
      AND (expires_at IS NULL OR expires_at > %s)),
  (SELECT id FROM fraud_fraudcheck WHERE payment_ref = %s AND payment_ref <> ''),
  (SELECT id FROM payments_payment WHERE provider_id = %s),
  (SELECT COUNT(DISTINCT card_key) FROM fraud_fraudcheck
    WHERE email_key = %s AND created_at > %s AND card_fingerprint <> '' AND card_key <> %s),
  (SELECT COUNT(DISTINCT email_key) FROM fraud_fraudcheck
    WHERE card_key = %s AND created_at > %s AND email_key <> %s),
  (SELECT COUNT(*) FROM fraud_fraudcheck
    WHERE card_key = %s AND created_at > %s AND decision = 'block'),
  (SELECT COUNT(*) FROM payments_payment
    WHERE card_fingerprint = %s AND status = 'failed' AND card_fingerprint <> '' AND updated_at > %s),
  (SELECT COUNT(*) FROM fraud_fraudcheck
    WHERE ip = %s AND ip IS NOT NULL AND created_at > %s),
  (SELECT version FROM fraud_ruleset WHERE state = 'active'),
  (SELECT version FROM fraud_ruleset WHERE shadow)
"""

_KIND_ORDER = {ListEntry.Kind.EMAIL: 0, ListEntry.Kind.CARD: 1, ListEntry.Kind.DOMAIN: 2}


@dataclass(frozen=True)
class StoredFacts:
    recent_count: int  # checks of this card in the rolling hour before now (one exactly an hour old no longer counts)
    daily_total: Decimal  # allowed and review amounts of this email and currency in the rolling 24 hours before now
    allow_hit: str | None  # kind of the matching allow entry (email before card before domain), if any
    block_hit: str | None  # kind of the matching block entry, if any
    replay_of: int | None  # pk of the check already stored for this payment id, if any
    payment_pk: int | None  # pk of the Payment with this payment id, if any
    other_cards: int = 0  # distinct other card fingerprints of this canonical email in the rolling 24 hours
    other_emails: int = 0  # distinct other canonical emails of this card in the rolling 24 hours
    card_declines: int = 0  # this card's blocked checks plus its failed payments in the rolling hour
    ip_count: int = 0  # checks from this IP in the rolling hour (0 without an IP)
    active_version: int | None = None  # the stored rule set in force (None: the GUARD_* settings)
    shadow_version: int | None = None  # the stored rule set running in shadow, if any


def _when(moment: datetime):
    return connection.ops.adapt_datetimefield_value(moment)


def _lock_ids(keys: list[str]) -> list[int]:
    """64-bit advisory lock ids for the keys, sorted, so checks always lock in the same order."""
    return sorted({int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True) for key in keys})


# PostgreSQL plans a query on every run unless it is prepared, and planning the
# counting query took four times as long as running it (0.17 ms against
# 0.04 ms). So each connection prepares it once, by name, and checks EXECUTE it
# under a generic plan (``plan_cache_mode``, for this transaction only): left to
# choose, PostgreSQL planned it afresh on every run whenever a signal was off
# (the far-future window made a custom plan look cheaper), 0.43 ms of planning
# for 0.13 ms of work; every count is a range scan of its index whatever the
# parameters, so the generic plan is the same plan.
_PG_STATEMENT = "fraud_facts"
_prepared_on = weakref.WeakSet()  # the psycopg connections that hold the prepared statement


def _pg_prepare(cursor) -> None:
    if connection.connection in _prepared_on:
        return
    numbers = itertools.count(1)
    sql = re.sub("%s", lambda _: f"${next(numbers)}", _FACTS_SQL.format(concat="string_agg"))
    cursor.execute(f"PREPARE {_PG_STATEMENT} AS {sql}")
    _prepared_on.add(connection.connection)


def locked_facts(
    *,
    card_key: str,
    email: str,
    email_key: str,
    currency: str,
    card_fingerprint: str,
    payment_id: str | None,
    now: datetime,
    ip: str | None = None,
    uncounted: frozenset[str] = frozenset(),
    begin: bool = False,
    lock_ip: bool | None = None,
) -> StoredFacts:
    """Lock the card, the canonical email and (while its signal counts) the IP for the rest of the transaction, then
    read what our data says.

    ``email`` (as given) finds list entries; ``email_key`` is what amounts and cards are counted under, and
    what is locked, so plus-variants of one mailbox wait for each other.

    PostgreSQL: transaction-scoped advisory locks, taken in sorted order (the
    select list is evaluated left to right) so two checks can never wait on
    each other. The locking statement and the counting one go in one round
    trip, as one simple query (Django's default client-side binding cursor);
    each statement gets its own snapshot, so the counts see every check
    committed by whoever held a lock before. SQLite: the transaction began with
    BEGIN IMMEDIATE and holds the database's single write lock already.

    ``begin`` (PostgreSQL, with the connection in autocommit): the statement opens the transaction itself,
    its BEGIN in the same round trip (``fraud.services``' own transaction).

    ``uncounted`` names the card-testing signals a config turns off (``RuleConfig.uncounted``: cards_per_email,
    emails_per_card, card_declines, ip_count); they read as 0 without scanning anything.
    """
    hour, day = _when(now - VELOCITY_WINDOW), _when(now - DAILY_WINDOW)
    never = _when(now + NEVER)

    def window(signal: str, since):
        return never if signal in uncounted else since

    params = [
        card_key, hour,
        email_key, currency, day,
        email, email_domain(email), card_fingerprint.lower(), _when(now),
        payment_id, payment_id,
        email_key, window("cards_per_email", day), card_key,
        card_key, window("emails_per_card", day), email_key,
        card_key, window("card_declines", hour),
        card_fingerprint, window("card_declines", hour),
        ip, window("ip_count", hour),
    ]  # fmt: skip
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            _pg_prepare(cursor)
            # The IP is locked only while the deciding rules count it (``lock_ip``; by default, while it is
            # counted at all): a shadow's IP count needs no lock of its own, a would-be decision holds no limit.
            lock_ip = "ip_count" not in uncounted if lock_ip is None else lock_ip
            ids = _lock_ids([card_key, f"email:{email_key}", *([f"ip:{ip}"] if ip and lock_ip else [])])
            locks = ", ".join(["pg_advisory_xact_lock(%s)"] * len(ids))
            cursor.execute(
                ("BEGIN; " if begin else "") + f"SELECT {locks}; SET LOCAL plan_cache_mode = force_generic_plan; "
                f"EXECUTE {_PG_STATEMENT}({', '.join(['%s'] * len(params))})",
                ids + params,
            )
            for _ in range(3 if begin else 2):
                cursor.nextset()
        else:
            cursor.execute(_FACTS_SQL.format(concat="group_concat"), params)
        (recent, daily, entries, replay_of, payment_pk, cards, emails, blocked, declined, ip_count, active, shadow) = (
            cursor.fetchone()
        )
    hits = {"allow": None, "block": None}
    pairs = [entry.split(":") for entry in entries.split(",")] if entries else []
    for action, kind in sorted(pairs, key=lambda pair: _KIND_ORDER[pair[1]]):
        hits[action] = hits[action] or kind
    # PostgreSQL sums numeric exactly; SQLite stores decimals as REAL, exact to the cent at these magnitudes.
    daily_total = Decimal(str(daily or 0)).quantize(CENT)
    return StoredFacts(
        recent,
        daily_total,
        hits["allow"],
        hits["block"],
        replay_of,
        payment_pk,
        cards,
        emails,
        blocked + declined,
        ip_count,
        active,
        shadow,
    )


def customer_history(*, email: str, email_key: str, exclude_pk: int | None = None, limit: int = 10):
    """The customer's latest checks, for reviewers: those of ``email`` as given (found through its ``email_key``)."""
    return _of_email(email, email_key).exclude(pk=exclude_pk).order_by("-created_at")[:limit]


def _of_email(email: str, email_key: str):
    """The checks of one email as given, read through the canonical email's index (fraud_email_key_time): every
    check writes that index anyway, and a second one on the email as given cost each check its upkeep."""
    return FraudCheck.objects.filter(email_key=email_key, email=email)


def fraud_check_get(*, check_id: str) -> FraudCheck:
    """One check with its review (or the knowledge that it has none), in one query."""
    return get_or_not_found(
        FraudCheck.objects.select_related("review"), message="No fraud check has this id.", check_id=check_id
    )


# The review desk: what a reviewer sees of a customer. "The customer" is the check's email; "the card" is
# its card_key (the fingerprint, or the email when there is none), as for velocity. Every read is one query
# on an indexed column (fraud_email_key_time, fraud_card_time, payment_email_time).


@dataclass(frozen=True)
class QueueHistory:
    checks_24h: int  # checks of this card in the past 24 hours, this one included
    payments: int  # payments of this email in the ledger
    refunds: int  # of them refunded


def review_queue_histories(*, checks, now: datetime) -> dict[int, QueueHistory]:
    """The one-line history of each check on a queue page, by check pk: two grouped queries for the whole page."""
    checks = list(checks)
    card_counts = dict(
        FraudCheck.objects.filter(card_key__in={check.card_key for check in checks}, created_at__gt=now - DAILY_WINDOW)
        .values("card_key")
        .annotate(count=Count("id"))
        .values_list("card_key", "count")
    )
    ledger = {
        row["email"]: row
        for row in Payment.objects.filter(email__in={check.email.lower() for check in checks})
        .values("email")
        .annotate(count=Count("id"), refunds=Count("id", filter=Q(status=Payment.Status.REFUNDED)))
    }
    empty = {"count": 0, "refunds": 0}
    return {
        check.pk: QueueHistory(
            checks_24h=card_counts.get(check.card_key, 0),
            payments=ledger.get(check.email.lower(), empty)["count"],
            refunds=ledger.get(check.email.lower(), empty)["refunds"],
        )
        for check in checks
    }


@dataclass(frozen=True)
class Totals:
    currency: str
    count: int
    amount: Decimal


@dataclass(frozen=True)
class CustomerFile:
    checks: list  # the email's latest checks, this one left out
    payments: list  # the email's latest payments
    totals_24h: list[Totals]  # the email's checks in the past 24 h, per currency
    totals_30d: list[Totals]  # and in the past 30 days
    first_seen: datetime | None  # the email's first check or payment
    refunds: int
    failures: int
    other_emails: list[str]  # other emails seen on this check's card
    other_cards: list[str]  # other card fingerprints seen with this email


def _totals(email: str, email_key: str, since: datetime) -> list[Totals]:
    rows = (
        _of_email(email, email_key)
        .filter(created_at__gt=since)
        .values("currency")
        .annotate(count=Count("id"), amount=Sum("amount"))
        .order_by("currency")
    )
    return [Totals(row["currency"], row["count"], Decimal(str(row["amount"])).quantize(CENT)) for row in rows]


def review_customer(*, check: FraudCheck, now: datetime, limit: int = 10) -> CustomerFile:
    """Everything a reviewer weighs about the check's customer and card, read in a handful of indexed queries."""
    email, ledger_email = check.email, check.email.lower()
    payments = Payment.objects.filter(email=ledger_email)
    ledger = payments.aggregate(
        first=Min("created_at"),
        refunds=Count("id", filter=Q(status=Payment.Status.REFUNDED)),
        failures=Count("id", filter=Q(status=Payment.Status.FAILED)),
    )
    first_check = _of_email(email, check.email_key).aggregate(first=Min("created_at"))["first"]
    seen = [moment for moment in (first_check, ledger["first"]) if moment]
    other_emails = []
    if check.card_fingerprint:
        other_emails = list(
            FraudCheck.objects.filter(card_key=check.card_key)
            .exclude(email=email)
            .order_by("email")
            .values_list("email", flat=True)
            .distinct()[:limit]
        )
    other_cards = list(
        _of_email(email, check.email_key)
        .exclude(card_fingerprint="")
        .exclude(card_fingerprint=check.card_fingerprint)
        .order_by("card_fingerprint")
        .values_list("card_fingerprint", flat=True)
        .distinct()[:limit]
    )
    return CustomerFile(
        checks=list(customer_history(email=email, email_key=check.email_key, exclude_pk=check.pk, limit=limit)),
        payments=list(payments.order_by("-created_at", "-id")[:limit]),
        totals_24h=_totals(email, check.email_key, now - DAILY_WINDOW),
        totals_30d=_totals(email, check.email_key, now - MONTHLY_WINDOW),
        first_seen=min(seen) if seen else None,
        refunds=ledger["refunds"],
        failures=ledger["failures"],
        other_emails=other_emails,
        other_cards=other_cards,
    )


def review_claim_holder(review: FraudReview, *, now: datetime) -> str:
    """Who holds a live claim on an open review ("" for nobody)."""
    live = review.state == FraudReview.State.OPEN and review.claimed_until and review.claimed_until > now
    return review.claimed_by if live else ""


def review_next_open(*, after: FraudReview, by: str, now: datetime) -> FraudReview | None:
    """The next open review for ``by``: the oldest waiting that nobody else holds, ``after`` left out."""
    free = Q(claimed_by=by) | Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)
    return (
        FraudReview.objects.filter(free, state=FraudReview.State.OPEN)
        .exclude(pk=after.pk)
        .order_by("opened_at", "id")
        .first()
    )
