"""Replay stored checks under other settings, with point-in-time counters, in one pass.

Velocity counts every earlier check of the card in the rolling hour (as the
guard does, whatever was decided); the daily sum counts the amounts the
*replayed* decisions allowed or sent to review, so a stricter limit also
changes what later checks see. List entries apply from their creation to their
expiry; the caller-supplied counts stored with each check are used again.

The same pass replays the current settings too (``current``, with daily sums of
their own) and judges both by the checks' labels (``fraud.labels``): the label
inputs come with the rows, joined in the one query.
"""

from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from fraud.labels import LABEL_FIELDS, LabelledMetrics, label, label_annotations, legit_before
from fraud.models import FraudCheck, ListEntry
from fraud.rules import ALLOW, REVIEW, Facts, RuleConfig, decide, email_domain
from fraud.selectors import DAILY_WINDOW, VELOCITY_WINDOW


@dataclass
class BacktestReport:
    total: int = 0
    table: Counter = field(default_factory=Counter)  # (before, after) -> count
    examples: list = field(default_factory=list)  # (check_id, before reason, after reason)
    labels: Counter = field(default_factory=Counter)  # fraud / legitimate / None -> checks
    current: LabelledMetrics = field(default_factory=LabelledMetrics)  # the current settings, replayed
    proposed: LabelledMetrics = field(default_factory=LabelledMetrics)  # the proposed settings, replayed

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


class _DailySums:
    """Allowed and review amounts per (email, currency) in the rolling day, as one replayed rule set decided them."""

    def __init__(self):
        self.seen: dict[tuple, deque] = defaultdict(deque)
        self.sums: dict[tuple, Decimal] = defaultdict(Decimal)

    def total(self, key: tuple, at: datetime) -> Decimal:
        window = self.seen[key]
        while window and window[0][0] <= at - DAILY_WINDOW:
            self.sums[key] -= window.popleft()[1]
        return self.sums[key]

    def add(self, key: tuple, at: datetime, amount: Decimal) -> None:
        self.seen[key].append((at, amount))
        self.sums[key] += amount


def fraud_backtest(
    *,
    since: datetime,
    config: RuleConfig,
    current: RuleConfig | None = None,
    now: datetime | None = None,
    progress=None,
    max_examples: int = 10,
) -> BacktestReport:
    """Replay the checks since ``since`` under ``config`` (proposed) and ``current`` (default: the settings).

    ``now`` fixes when labels are read (a succeeded payment is legitimate once
    ``GUARD_LABEL_LEGIT_DAYS`` old).
    """
    report = BacktestReport()
    current = current or RuleConfig.from_settings()
    same = current == config
    lists = _Lists() if ListEntry.objects.exists() else None
    card_seen: dict[str, deque] = defaultdict(deque)
    daily = _DailySums()
    daily_current = daily if same else _DailySums()
    rows = (
        FraudCheck.objects.filter(created_at__gte=since)
        .annotate(**label_annotations(legit_before(now)))
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
            *LABEL_FIELDS,
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
        *label_inputs,
    ) in rows.iterator(chunk_size=5000):
        seen = card_seen[card_key]
        while seen and seen[0] <= at - VELOCITY_WINDOW:
            seen.popleft()
        key = (email, currency)
        allow_hit = lists.hit("allow", email, fingerprint, at) if lists else None
        block_hit = lists.hit("block", email, fingerprint, at) if lists else None
        recent = max(len(seen), caller_recent or 0)
        caller_daily = caller_daily or Decimal("0")
        facts = Facts(
            email=email,
            amount=amount,
            card_type=card_type,
            recent_count=recent,
            daily_total=max(daily.total(key, at), caller_daily),
            allow_hit=allow_hit,
            block_hit=block_hit,
        )
        after = decide(facts, config)
        if same:
            now_decided = after
        else:
            now_facts = Facts(
                email=email,
                amount=amount,
                card_type=card_type,
                recent_count=recent,
                daily_total=max(daily_current.total(key, at), caller_daily),
                allow_hit=allow_hit,
                block_hit=block_hit,
            )
            now_decided = decide(now_facts, current)
            if now_decided.outcome in (ALLOW, REVIEW):
                daily_current.add(key, at, amount)
        seen.append(at)
        if after.outcome in (ALLOW, REVIEW):
            daily.add(key, at, amount)
        check_label = label(*label_inputs)
        report.labels[check_label] += 1
        report.current.add(now_decided, check_label)
        report.proposed.add(after, check_label)
        report.total += 1
        report.table[(before, after.outcome)] += 1
        if before != after.outcome and len(report.examples) < max_examples:
            report.examples.append((check_id, old_reason, after.reason))
        if progress is not None:
            progress.update(1)
    return report
