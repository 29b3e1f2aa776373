"""The fraud guard's rules: pure functions over plain values, no database.

The documented rules (the original contract), evaluated in this order; the first rule that applies decides:

1. ``allowlist``  email (or its domain, or the card) allowed → allow ``allowlisted``
2. ``blocklist``  email, domain or card blocked → block ``blocklisted_<kind>``
3. ``prepaid``    prepaid card and GUARD_BLOCK_PREPAID → block ``prepaid_card_blocked``
4. ``velocity``   n checks of the same card in the past hour, n >= max → block ``velocity_exceeded_{n}_per_hour``

   The card-testing signals (each off while its limit is 0):

   ``cards_per_email``  this check's card makes n distinct cards of the email in 24 h, n > max
                        → block ``cards_per_email_exceeded_{n}_per_day``
   ``emails_per_card``  this check's email makes n distinct emails of the card in 24 h, n > max
                        → block ``emails_per_card_exceeded_{n}_per_day``
   ``card_declines``    n blocked checks and declined payments of the card in the past hour, n >= max
                        → block ``card_declines_exceeded_{n}_per_hour``
   ``ip_velocity``      n checks from the request's IP in the past hour, n >= max
                        → block ``ip_velocity_exceeded_{n}_per_hour``

5. ``daily_amount`` t + amount > max per day → block ``daily_limit_exceeded_{t+amount:.2f}``
6. ``review_amount`` amount > review threshold → review ``high_amount_requires_review``
7. ``default``    allow ``all_checks_passed``
"""

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

# Mailboxes that ignore dots in the local part (and googlemail.com is gmail.com): GUARD_CANONICAL_DOT_DOMAINS.
DEFAULT_DOT_DOMAINS = ("gmail.com", "googlemail.com")
_SAME_MAILBOX = {"googlemail.com": "gmail.com"}

ALLOW = "allow"
BLOCK = "block"
REVIEW = "review"


_FROM_SETTINGS: dict[tuple, "RuleConfig"] = {}  # RuleConfig.from_settings' configs, by their values


@dataclass(frozen=True)
class RuleConfig:
    block_prepaid: bool
    max_per_hour: int
    max_amount_day: Decimal
    review_amount: Decimal
    email_allow: frozenset[str] = frozenset()
    max_cards_per_email_day: int = 0  # 0: the signal is off
    max_emails_per_card_day: int = 0
    max_declines_per_card_hour: int = 0
    max_per_ip_hour: int = 0
    dot_domains: frozenset[str] = frozenset(DEFAULT_DOT_DOMAINS)
    # A stored rule set's name ("v2", ``fraud.models.RuleSet.label``); empty for the GUARD_* settings.
    label: str = field(default="", compare=False)

    @classmethod
    def from_settings(cls, **overrides) -> "RuleConfig":
        from django.conf import settings

        values = {
            "block_prepaid": settings.GUARD_BLOCK_PREPAID,
            "max_per_hour": settings.GUARD_MAX_PER_HOUR,
            "max_amount_day": settings.GUARD_MAX_AMOUNT_DAY,
            "review_amount": settings.GUARD_REVIEW_AMOUNT,
            "email_allow": frozenset(settings.GUARD_EMAIL_ALLOW),
            "max_cards_per_email_day": settings.GUARD_MAX_CARDS_PER_EMAIL_DAY,
            "max_emails_per_card_day": settings.GUARD_MAX_EMAILS_PER_CARD_DAY,
            "max_declines_per_card_hour": settings.GUARD_MAX_DECLINES_PER_CARD_HOUR,
            "max_per_ip_hour": settings.GUARD_MAX_PER_IP_HOUR,
            "dot_domains": frozenset(settings.GUARD_CANONICAL_DOT_DOMAINS),
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        # Every check asks; equal settings give the one config already built (and its version already digested).
        key = tuple(values.items())
        config = _FROM_SETTINGS.get(key)
        if config is None:
            if len(_FROM_SETTINGS) > 64:  # settings changed many times over (tests): start afresh
                _FROM_SETTINGS.clear()
            config = _FROM_SETTINGS[key] = cls(**values)
        return config

    @classmethod
    def from_dict(cls, values: dict, label: str = "") -> "RuleConfig":
        """The inverse of ``as_dict`` (values already validated)."""
        return cls(
            block_prepaid=bool(values["block_prepaid"]),
            max_per_hour=int(values["max_per_hour"]),
            max_amount_day=Decimal(str(values["max_amount_day"])),
            review_amount=Decimal(str(values["review_amount"])),
            email_allow=frozenset(values["email_allow"]),
            max_cards_per_email_day=int(values["max_cards_per_email_day"]),
            max_emails_per_card_day=int(values["max_emails_per_card_day"]),
            max_declines_per_card_hour=int(values["max_declines_per_card_hour"]),
            max_per_ip_hour=int(values["max_per_ip_hour"]),
            dot_domains=frozenset(values["dot_domains"]),
            label=label,
        )

    @property
    def uncounted(self) -> frozenset[str]:
        """The card-testing signals this config turns off (limit 0): the guard does not count them."""
        limits = {
            "cards_per_email": self.max_cards_per_email_day,
            "emails_per_card": self.max_emails_per_card_day,
            "card_declines": self.max_declines_per_card_hour,
            "ip_count": self.max_per_ip_hour,
        }
        return frozenset(signal for signal, limit in limits.items() if not limit)

    def as_dict(self) -> dict:
        """The thresholds and lists as JSON values (decimals as strings, lists sorted); ``label`` left out."""
        return {
            "block_prepaid": self.block_prepaid,
            "max_per_hour": self.max_per_hour,
            "max_amount_day": f"{self.max_amount_day:.2f}",
            "review_amount": f"{self.review_amount:.2f}",
            "email_allow": sorted(self.email_allow),
            "max_cards_per_email_day": self.max_cards_per_email_day,
            "max_emails_per_card_day": self.max_emails_per_card_day,
            "max_declines_per_card_hour": self.max_declines_per_card_hour,
            "max_per_ip_hour": self.max_per_ip_hour,
            "dot_domains": sorted(self.dot_domains),
        }

    @cached_property
    def version(self) -> str:
        """Names this configuration: a stored rule set's label ("v2"); for the GUARD_* settings, a digest of them
        ("v1-" and ten hex digits: equal settings, equal version)."""
        if self.label:
            return self.label
        values = self.as_dict()
        values["max_amount_day"], values["review_amount"] = str(self.max_amount_day), str(self.review_amount)
        canonical = json.dumps(values, sort_keys=True)
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
    cards_per_email: int = 0  # distinct cards of this canonical email in 24 h, this check's card included
    emails_per_card: int = 0  # distinct canonical emails of this card in 24 h, this check's included (0: no card)
    card_declines: int = 0  # this card's blocked checks and declined payments in the past hour
    ip_count: int = 0  # checks from this request's IP in the past hour (0: no IP sent)


@dataclass(frozen=True)
class Decision:
    outcome: str
    reason: str
    rule: str
    observed: dict = field(default_factory=dict)
    limit: str | None = None


def email_domain(email: str) -> str:
    return email.rpartition("@")[2]


def canonical_email(email: str, dot_domains=DEFAULT_DOT_DOMAINS) -> str:
    """The key under which the guard counts an email: one mailbox, one key.

    Lowercased, the plus-tag dropped from the local part ("a+x@y.com" → "a@y.com"), and for the
    ``dot_domains`` dots ignored too ("j.doe@gmail.com" → "jdoe@gmail.com"; googlemail.com is gmail.com).
    Never raises: without an "@" the trimmed, lowercased input is its own key, and a local part that
    stripping would empty ("+x@y.com") is kept as it was.
    """
    email = email.strip().lower()
    local, at, domain = email.rpartition("@")
    if not at:
        return email
    key = local.partition("+")[0]
    if domain in dot_domains:
        key = key.replace(".", "")
        domain = _SAME_MAILBOX.get(domain, domain)
    return f"{key or local}@{domain}"


def decide(facts: Facts, config: RuleConfig) -> Decision:
    if facts.email in config.email_allow or facts.allow_hit:
        listed = facts.allow_hit or (f"{config.label} email_allow" if config.label else "GUARD_EMAIL_ALLOW")
        return Decision(ALLOW, "allowlisted", "allowlist", {"list": listed})
    if facts.block_hit:
        return Decision(BLOCK, f"blocklisted_{facts.block_hit}", "blocklist", {"list": facts.block_hit})
    if facts.card_type == "prepaid" and config.block_prepaid:
        return Decision(BLOCK, "prepaid_card_blocked", "prepaid", {"card_type": "prepaid"}, "GUARD_BLOCK_PREPAID=1")
    observed = {"recent_count": facts.recent_count, "daily_total": f"{facts.daily_total:.2f}"}
    if facts.recent_count >= config.max_per_hour:
        return Decision(
            BLOCK, f"velocity_exceeded_{facts.recent_count}_per_hour", "velocity", observed, str(config.max_per_hour)
        )
    if config.max_cards_per_email_day and facts.cards_per_email > config.max_cards_per_email_day:
        observed = {**observed, "cards_per_email": facts.cards_per_email}
        reason = f"cards_per_email_exceeded_{facts.cards_per_email}_per_day"
        return Decision(BLOCK, reason, "cards_per_email", observed, str(config.max_cards_per_email_day))
    if config.max_emails_per_card_day and facts.emails_per_card > config.max_emails_per_card_day:
        observed = {**observed, "emails_per_card": facts.emails_per_card}
        reason = f"emails_per_card_exceeded_{facts.emails_per_card}_per_day"
        return Decision(BLOCK, reason, "emails_per_card", observed, str(config.max_emails_per_card_day))
    if config.max_declines_per_card_hour and facts.card_declines >= config.max_declines_per_card_hour:
        observed = {**observed, "card_declines": facts.card_declines}
        reason = f"card_declines_exceeded_{facts.card_declines}_per_hour"
        return Decision(BLOCK, reason, "card_declines", observed, str(config.max_declines_per_card_hour))
    if config.max_per_ip_hour and facts.ip_count >= config.max_per_ip_hour:
        observed = {**observed, "ip_count": facts.ip_count}
        reason = f"ip_velocity_exceeded_{facts.ip_count}_per_hour"
        return Decision(BLOCK, reason, "ip_velocity", observed, str(config.max_per_ip_hour))
    projected = facts.daily_total + facts.amount
    if projected > config.max_amount_day:
        return Decision(
            BLOCK, f"daily_limit_exceeded_{projected:.2f}", "daily_amount", observed, f"{config.max_amount_day:.2f}"
        )
    if facts.amount > config.review_amount:
        return Decision(REVIEW, "high_amount_requires_review", "review_amount", observed, f"{config.review_amount:.2f}")
    return Decision(ALLOW, "all_checks_passed", "default", observed)
