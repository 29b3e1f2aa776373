"""Replay stored checks under other settings, with point-in-time counters, in one pass.

Velocity counts every earlier check of the card in the rolling hour (as the
guard does, whatever was decided); the daily sum counts the amounts the
*replayed* decisions allowed or sent to review, so a stricter limit also
changes what later checks see. List entries apply from their creation to their
expiry; the caller-supplied counts stored with each check are used again.
"""

from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from fraud.models import FraudCheck, ListEntry
from fraud.rules import ALLOW, REVIEW, Facts, RuleConfig, decide, email_domain
from fraud.selectors import DAILY_WINDOW, VELOCITY_WINDOW


@dataclass
class BacktestReport:
    total: int = 0
    table: Counter = field(default_factory=Counter)  # (before, after) -> count
    examples: list = field(default_factory=list)  # (check_id, before reason, after reason)

    @property
    def changed(self) -> int:
        return sum(count for (before, after), count in self.table.items() if before != after)


class _Lists:
    def __init__(self):
        self.entries = defaultdict(list)
        for entry in ListEntry.objects.all():
            self.entries[(entry.kind, entry.value)].append(entry)

    def hit(self, action: str, email: str, fingerprint: str, at: datetime) -> str | None:
        for kind, value in (("email", email), ("card", fingerprint.lower()), ("domain", email_domain(email))):
            for entry in self.entries.get((kind, value), ()):
                active = entry.created_at <= at and (entry.expires_at is None or entry.expires_at > at)
                if entry.action == action and active:
                    return kind
        return None


def fraud_backtest(*, since: datetime, config: RuleConfig, progress=None, max_examples: int = 10) -> BacktestReport:
    report = BacktestReport()
    lists = _Lists() if ListEntry.objects.exists() else None
    card_seen: dict[str, deque] = defaultdict(deque)
    daily_seen: dict[tuple, deque] = defaultdict(deque)
    daily_sum: dict[tuple, Decimal] = defaultdict(Decimal)
    rows = (
        FraudCheck.objects.filter(created_at__gte=since)
        .order_by("created_at", "id")
        .values_list(
            "check_id",
            "created_at",
            "email",
            "amount",
            "currency",
            "card_type",
            "card_fingerprint",
            "card_key",
            "caller_recent_count",
            "caller_daily_total",
            "decision",
            "reason",
        )
    )
    for (
        check_id,
        at,
        email,
        amount,
        currency,
        card_type,
        fingerprint,
        card_key,
        caller_recent,
        caller_daily,
        before,
        old_reason,
    ) in rows.iterator(chunk_size=5000):
        seen = card_seen[card_key]
        while seen and seen[0] <= at - VELOCITY_WINDOW:
            seen.popleft()
        key = (email, currency)
        window = daily_seen[key]
        while window and window[0][0] <= at - DAILY_WINDOW:
            daily_sum[key] -= window.popleft()[1]
        facts = Facts(
            email=email,
            amount=amount,
            card_type=card_type,
            recent_count=max(len(seen), caller_recent or 0),
            daily_total=max(daily_sum[key], caller_daily or Decimal("0")),
            allow_hit=lists.hit("allow", email, fingerprint, at) if lists else None,
            block_hit=lists.hit("block", email, fingerprint, at) if lists else None,
        )
        after = decide(facts, config)
        seen.append(at)
        if after.outcome in (ALLOW, REVIEW):
            window.append((at, amount))
            daily_sum[key] += amount
        report.total += 1
        report.table[(before, after.outcome)] += 1
        if before != after.outcome and len(report.examples) < max_examples:
            report.examples.append((check_id, old_reason, after.reason))
        if progress is not None:
            progress.update(1)
    return report
