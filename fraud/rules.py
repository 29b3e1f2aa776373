"""The fraud guard's rules: pure functions over plain values, no database.

The documented rules (the original contract), evaluated in this order; the first rule that applies decides:

1. ``allowlist``  email (or its domain, or the card) allowed → allow ``allowlisted``
2. ``blocklist``  email, domain or card blocked → block ``blocklisted_<kind>``
3. ``prepaid``    prepaid card and GUARD_BLOCK_PREPAID → block ``prepaid_card_blocked``
4. ``velocity``   n checks of the same card in the past hour, n >= max → block ``velocity_exceeded_{n}_per_hour``
5. ``daily_amount`` t + amount > max per day → block ``daily_limit_exceeded_{t+amount:.2f}``
6. ``review_amount`` amount > review threshold → review ``high_amount_requires_review``
7. ``default``    allow ``all_checks_passed``
"""

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal

ALLOW = "allow"
BLOCK = "block"
REVIEW = "review"


@dataclass(frozen=True)
class RuleConfig:
    block_prepaid: bool
    max_per_hour: int
    max_amount_day: Decimal
    review_amount: Decimal
    email_allow: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, **overrides) -> "RuleConfig":
        from django.conf import settings

        values = {
            "block_prepaid": settings.GUARD_BLOCK_PREPAID,
            "max_per_hour": settings.GUARD_MAX_PER_HOUR,
            "max_amount_day": settings.GUARD_MAX_AMOUNT_DAY,
            "review_amount": settings.GUARD_REVIEW_AMOUNT,
            "email_allow": frozenset(settings.GUARD_EMAIL_ALLOW),
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)

    @property
    def version(self) -> str:
        """Names this exact configuration: equal settings, equal version."""
        canonical = json.dumps(
            {
                "block_prepaid": self.block_prepaid,
                "max_per_hour": self.max_per_hour,
                "max_amount_day": str(self.max_amount_day),
                "review_amount": str(self.review_amount),
                "email_allow": sorted(self.email_allow),
            },
            sort_keys=True,
        )
        return "v1-" + hashlib.sha256(canonical.encode()).hexdigest()[:10]


@dataclass(frozen=True)
class Facts:
    """What the rules look at: the request and what we and the caller counted."""

    email: str
    amount: Decimal
    card_type: str
    recent_count: int  # the larger of the caller's count and ours: checks of this card in the past hour
    daily_total: Decimal  # the larger of the caller's sum and ours: allowed and review amounts today
    allow_hit: str | None = None  # kind of the matching allow-list entry, if any
    block_hit: str | None = None  # kind of the matching block-list entry, if any


@dataclass(frozen=True)
class Decision:
    outcome: str
    reason: str
    rule: str
    observed: dict = field(default_factory=dict)
    limit: str | None = None


def email_domain(email: str) -> str:
    return email.rpartition("@")[2]


def decide(facts: Facts, config: RuleConfig) -> Decision:
    if facts.email in config.email_allow or facts.allow_hit:
        return Decision(ALLOW, "allowlisted", "allowlist", {"list": facts.allow_hit or "GUARD_EMAIL_ALLOW"})
    if facts.block_hit:
        return Decision(BLOCK, f"blocklisted_{facts.block_hit}", "blocklist", {"list": facts.block_hit})
    if facts.card_type == "prepaid" and config.block_prepaid:
        return Decision(BLOCK, "prepaid_card_blocked", "prepaid", {"card_type": "prepaid"}, "GUARD_BLOCK_PREPAID=1")
    observed = {"recent_count": facts.recent_count, "daily_total": f"{facts.daily_total:.2f}"}
    if facts.recent_count >= config.max_per_hour:
        return Decision(
            BLOCK, f"velocity_exceeded_{facts.recent_count}_per_hour", "velocity", observed, str(config.max_per_hour)
        )
    projected = facts.daily_total + facts.amount
    if projected > config.max_amount_day:
        return Decision(
            BLOCK, f"daily_limit_exceeded_{projected:.2f}", "daily_amount", observed, f"{config.max_amount_day:.2f}"
        )
    if facts.amount > config.review_amount:
        return Decision(REVIEW, "high_amount_requires_review", "review_amount", observed, f"{config.review_amount:.2f}")
    return Decision(ALLOW, "all_checks_passed", "default", observed)
