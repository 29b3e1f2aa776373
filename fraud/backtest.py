"""Replay stored checks under other settings, with point-in-time counters, in one pass.

Velocity counts every earlier check of the card in the rolling hour (as the
guard does, whatever was decided); the daily sum counts the amounts the
*replayed* decisions allowed or sent to review, so a stricter limit also
changes what later checks see. List entries apply from their creation to their
expiry; the caller-supplied counts stored with each check are used again.

Emails are counted under their stored canonical key (``email_key``), as the guard
counts them. The card-testing signals are replayed when the config turns them on
(and cost nothing when it does not): distinct cards per email and emails per card
in the rolling 24 hours and checks per IP in the hour count every earlier check;
a card's declines count the checks the *replayed* decisions block plus the card's
failed payments (by ``updated_at``, when they failed) in the hour before each check.

The same pass replays the current settings too (``current``, with daily sums of
their own) and judges both by the checks' labels (``fraud.labels``): the label
inputs come with the rows, joined in the one query.
"""

import bisect
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from fraud.labels import FRAUD, LABEL_FIELDS, LEGITIMATE, LabelledMetrics, label, label_annotations, legit_before
from fraud.models import FraudCheck, ListEntry
from fraud.rules import ALLOW, BLOCK, REVIEW, Facts, RuleConfig, decide, email_domain
from fraud.selectors import DAILY_WINDOW, VELOCITY_WINDOW
from payments.models import Payment


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


class _Distinct:
    """Distinct values per key in a rolling window: what ``COUNT(DISTINCT ...)`` over the window counts."""

    def __init__(self, window):
        self.window = window
        self.seen: dict[str, deque] = defaultdict(deque)
        self.counts: dict[str, Counter] = defaultdict(Counter)

    def others(self, key: str, value: str, at: datetime) -> int:
        """How many values other than ``value`` ``key`` had in the window before ``at``."""
        seen, counts = self.seen[key], self.counts[key]
        while seen and seen[0][0] <= at - self.window:
            old = seen.popleft()[1]
            counts[old] -= 1
            if not counts[old]:
                del counts[old]
        return len(counts) - (value in counts)

    def add(self, key: str, value: str, at: datetime) -> None:
        self.seen[key].append((at, value))
        self.counts[key][value] += 1


class _Times:
    """Moments per key in a rolling window: a ``COUNT(*)`` over the window."""

    def __init__(self, window):
        self.window = window
        self.seen: dict[str, deque] = defaultdict(deque)

    def count(self, key: str, at: datetime) -> int:
        seen = self.seen[key]
        while seen and seen[0] <= at - self.window:
            seen.popleft()
        return len(seen)

    def add(self, key: str, at: datetime) -> None:
        self.seen[key].append(at)


def _declined_payments(since: datetime) -> dict[str, list[datetime]]:
    """When each card's payments failed, in order, from an hour before ``since`` on."""
    moments = defaultdict(list)
    failed = (
        Payment.objects.filter(status=Payment.Status.FAILED, updated_at__gt=since - VELOCITY_WINDOW)
        .exclude(card_fingerprint="")
        .order_by("updated_at")
        .values_list("card_fingerprint", "updated_at")
    )
    for fingerprint, moment in failed.iterator(chunk_size=5000):
        moments[fingerprint].append(moment)
    return moments


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


class _Replay:
    """One rule set replayed: its config, and the counts its own decisions feed (daily sums, blocked checks per card)."""

    def __init__(self, config: RuleConfig):
        self.config = config
        self.daily = _DailySums()
        self.blocks_of_card = _Times(VELOCITY_WINDOW) if config.max_declines_per_card_hour else None

    def decide(self, shared: dict, *, key: tuple, card_key: str, failed: int, caller_daily: Decimal, at, amount):
        declines = self.blocks_of_card.count(card_key, at) + failed if self.blocks_of_card else 0
        facts = Facts(**shared, daily_total=max(self.daily.total(key, at), caller_daily), card_declines=declines)
        decision = decide(facts, self.config)
        if decision.outcome in (ALLOW, REVIEW):
            self.daily.add(key, at, amount)
        if self.blocks_of_card and decision.outcome == BLOCK:
            self.blocks_of_card.add(card_key, at)
        return decision


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
    ``GUARD_LABEL_LEGIT_DAYS`` old). The current rules default to those in force (``fraud.rulesets``).
    """
    from fraud.rulesets import current_config

    report = BacktestReport()
    current = current or current_config()
    replays = [_Replay(config)] if current == config else [_Replay(config), _Replay(current)]

    def either(limit: str) -> bool:
        return any(getattr(replay.config, limit) for replay in replays)

    lists = _Lists() if ListEntry.objects.exists() else None
    card_seen: dict[str, deque] = defaultdict(deque)
    # Counts that do not depend on what a rule set decided, kept once for both and only when one turns them on.
    cards_of_email = _Distinct(DAILY_WINDOW) if either("max_cards_per_email_day") else None
    emails_of_card = _Distinct(DAILY_WINDOW) if either("max_emails_per_card_day") else None
    declined = _declined_payments(since) if either("max_declines_per_card_hour") else {}
    checks_of_ip = _Times(VELOCITY_WINDOW) if either("max_per_ip_hour") else None
    rows = (
        FraudCheck.objects.filter(created_at__gte=since)
        .annotate(**label_annotations(legit_before(now)))
        .order_by("created_at", "id")
        .values_list(
            "check_id",
            "created_at",
            "email",
            "email_key",
            "amount",
            "currency",
            "card_type",
            "card_fingerprint",
            "card_key",
            "caller_recent_count",
            "caller_daily_total",
            "decision",
            "reason",
            "ip",
            *LABEL_FIELDS,
        )
    )
    for (
        check_id,
        at,
        email,
        email_key,
        amount,
        currency,
        card_type,
        fingerprint,
        card_key,
        caller_recent,
        caller_daily,
        before,
        old_reason,
        ip,
        *label_inputs,
    ) in rows.iterator(chunk_size=5000):
        seen = card_seen[card_key]
        while seen and seen[0] <= at - VELOCITY_WINDOW:
            seen.popleft()
        shared = {
            "email": email,
            "amount": amount,
            "card_type": card_type,
            "recent_count": max(len(seen), caller_recent or 0),
            "allow_hit": lists.hit("allow", email, fingerprint, at) if lists else None,
            "block_hit": lists.hit("block", email, fingerprint, at) if lists else None,
            "cards_per_email": cards_of_email.others(email_key, card_key, at) + 1
            if cards_of_email and fingerprint
            else 0,
            "emails_per_card": emails_of_card.others(card_key, email_key, at) + 1
            if emails_of_card and fingerprint
            else 0,
            "ip_count": checks_of_ip.count(ip, at) if checks_of_ip and ip else 0,
        }
        decided = [
            replay.decide(
                shared,
                key=(email_key, currency),
                card_key=card_key,
                failed=_failed_in_hour(declined.get(fingerprint), at),
                caller_daily=caller_daily or Decimal("0"),
                at=at,
                amount=amount,
            )
            for replay in replays
        ]
        after, now_decided = decided[0], decided[-1]
        seen.append(at)
        if cards_of_email and fingerprint:
            cards_of_email.add(email_key, card_key, at)
        if emails_of_card and fingerprint:
            emails_of_card.add(card_key, email_key, at)
        if checks_of_ip and ip:
            checks_of_ip.add(ip, at)
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


def report_dict(report: BacktestReport, *, since: datetime, config: RuleConfig, current: RuleConfig) -> dict:
    """The report as JSON values: what the command's ``--json``, the admin and the API show."""
    return {
        "since": since.isoformat(),
        "ruleset": {"current": current.version, "proposed": config.version},
        "checks": report.total,
        "changed": report.changed,
        "table": {f"{before}->{after}": count for (before, after), count in sorted(report.table.items())},
        "examples": [{"check_id": c, "before": old, "after": new} for c, old, new in report.examples],
        "labels": {
            "fraud": report.labels[FRAUD],
            "legitimate": report.labels[LEGITIMATE],
            "unlabelled": report.labels[None],
        },
        "current": report.current.as_dict(),
        "proposed": report.proposed.as_dict(),
    }


def _failed_in_hour(moments: list[datetime] | None, at: datetime) -> int:
    """Of a card's failure moments (sorted), those in the hour before ``at`` (the window's start left out)."""
    if not moments:
        return 0
    return bisect.bisect_right(moments, at) - bisect.bisect_right(moments, at - VELOCITY_WINDOW)
