"""Reads of the fraud guard: the counters the rules need, and list lookups."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection

from fraud.models import FraudCheck, ListEntry
from fraud.rules import email_domain

VELOCITY_WINDOW = timedelta(hours=1)
DAILY_WINDOW = timedelta(hours=24)


def card_key_for(*, email: str, card_fingerprint: str) -> str:
    return f"card:{card_fingerprint}" if card_fingerprint else f"email:{email}"


# The one query of every check is written in SQL: Django's query compilation
# cost several times its execution (measured 3.7 ms against 0.6 ms per check
# for the counters alone), and it is plain enough to read. Parameters go
# through the backend's own adapters, so SQLite's stored UTC text and
# PostgreSQL's timestamptz compare correctly.
_FACTS_SQL = """
SELECT
  (SELECT COUNT(*) FROM fraud_fraudcheck
    WHERE card_key = %s AND created_at > %s AND created_at <= %s),
  (SELECT SUM(amount) FROM fraud_fraudcheck
    WHERE email = %s AND currency = %s AND decision IN ('allow', 'review') AND created_at > %s AND created_at <= %s),
  (SELECT {concat}(action || ':' || kind, ',') FROM fraud_listentry
    WHERE ((kind = 'email' AND value = %s) OR (kind = 'domain' AND value = %s) OR (kind = 'card' AND value = %s))
      AND (expires_at IS NULL OR expires_at > %s))
"""

_CENT = Decimal("0.01")
_KIND_ORDER = {ListEntry.Kind.EMAIL: 0, ListEntry.Kind.CARD: 1, ListEntry.Kind.DOMAIN: 2}


@dataclass(frozen=True)
class StoredFacts:
    recent_count: int  # checks of this card in the rolling hour before now (one exactly an hour old no longer counts)
    daily_total: Decimal  # allowed and review amounts of this email and currency in the rolling 24 hours before now
    allow_hit: str | None  # kind of the matching allow entry (email before card before domain), if any
    block_hit: str | None  # kind of the matching block entry, if any


def _when(moment: datetime):
    return connection.ops.adapt_datetimefield_value(moment)


def stored_facts(*, card_key: str, email: str, currency: str, card_fingerprint: str, now: datetime) -> StoredFacts:
    """What our own data says about a check, in one round trip, each part served by its own index."""
    concat = "string_agg" if connection.vendor == "postgresql" else "group_concat"
    params = [
        card_key, _when(now - VELOCITY_WINDOW), _when(now),
        email, currency, _when(now - DAILY_WINDOW), _when(now),
        email, email_domain(email), card_fingerprint.lower(), _when(now),
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(_FACTS_SQL.format(concat=concat), params)
        recent, daily, entries = cursor.fetchone()
    hits = {"allow": None, "block": None}
    pairs = [entry.split(":") for entry in entries.split(",")] if entries else []
    for action, kind in sorted(pairs, key=lambda pair: _KIND_ORDER[pair[1]]):
        hits[action] = hits[action] or kind
    # PostgreSQL sums numeric exactly; SQLite stores decimals as REAL, exact to the cent at these magnitudes.
    return StoredFacts(recent, Decimal(str(daily or 0)).quantize(_CENT), hits["allow"], hits["block"])


def customer_history(*, email: str, exclude_pk: int | None = None, limit: int = 10):
    """The customer's latest checks, for reviewers."""
    return FraudCheck.objects.filter(email=email).exclude(pk=exclude_pk).order_by("-created_at")[:limit]
