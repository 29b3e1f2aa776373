import re
from datetime import UTC, timedelta
from decimal import ROUND_DOWN, Decimal

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from echopilot.emails import normalize_email
from echopilot.money import (
    ISO_4217,
    MAX_AMOUNT_MINOR,
    THREE_DECIMAL,
    ZERO_DECIMAL,
    amount_to_minor,
    currency_exponent,
    is_currency,
    max_amount,
)
from echopilot.schema import branch_enum
from echopilot.serializers import (
    ClosedSerializer,
    MomentField,
    OutputSerializer,
    QuerySerializer,
    TextField,
    TrueFalseField,
    WholeNumberField,
)
from fraud.models import BacktestRun, FraudReview, RuleSet
from fraud.rules import RuleConfig
from fraud.rulesets import SettingsVersion, ruleset_config
from fraud.services import NOTE_MAX_LENGTH, REVIEW_ACTIONS
from payments.models import Payment

# A caller's own daily total: a sum of payments, so larger than one payment may be, and still far inside the
# 14-digit column. One payment is bounded by its currency (``echopilot.money.max_amount``), checked in validate().
MAX_DAILY_TOTAL = Decimal("100000000.00")


def _json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _amount_schema(*, whole_digits: int, cents: bool) -> dict:
    """OpenAPI: a positive amount below 10**whole_digits, in cents or whole units: a plain decimal string or a number."""
    if cents:
        pattern = rf"^(?:[1-9]\d{{0,{whole_digits - 1}}}(?:\.\d{{1,2}})?|0\.(?:0[1-9]|[1-9]\d?))$"
        step = Decimal("0.01")
    else:
        pattern = rf"^[1-9]\d{{0,{whole_digits - 1}}}(?:\.00?)?$"
        step = Decimal(1)
    number = {
        "minimum": _json_number(step),
        "maximum": _json_number(10**whole_digits - step),
        "multipleOf": _json_number(step),
    }
    return {"anyOf": [{"type": "string", "pattern": pattern}, {"type": "number", **number}]}


class CheckInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    amount = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        max_value=max_amount("jpy"),  # the largest in any currency; the currency's own bound is checked below
        help_text=f"At most {MAX_AMOUNT_MINOR} minor units of the currency (999999.99 usd), whole units "
        "in currencies without a minor unit (jpy).",
    )
    card_type = serializers.ChoiceField(choices=Payment.CardType.values, default="unknown")
    currency = TextField(default="usd", max_length=3, min_length=3, help_text="ISO 4217, e.g. usd.")
    card_fingerprint = TextField(required=False, default="", allow_blank=True, max_length=64)
    payment_id = TextField(required=False, allow_null=True, default=None, max_length=255)
    recent_count = WholeNumberField(required=False, allow_null=True, default=None, min_value=0, max_value=1_000_000)
    daily_total = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        required=False,
        allow_null=True,
        default=None,
        min_value=Decimal("0"),
        max_value=MAX_DAILY_TOTAL,
    )
    ip = serializers.IPAddressField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The customer's IPv4 or IPv6 address, if known: checks per IP address per hour are counted "
        "(GUARD_MAX_PER_IP_HOUR).",
    )

    def validate_email(self, value):
        return normalize_email(value)

    def validate_currency(self, value):
        value = value.strip().lower()
        if not is_currency(value):
            raise serializers.ValidationError("Must be the ISO 4217 code of a currency, e.g. usd.")
        return value

    def validate_card_fingerprint(self, value):
        value = value.strip()
        if value and not re.fullmatch(r"[A-Za-z0-9_\-]{1,64}", value):
            raise serializers.ValidationError("Only letters, digits, '-' and '_'.")
        return value

    def validate_payment_id(self, value):
        return value.strip() or None if value is not None else None

    def validate(self, data):
        """The amount in whole minor units of its currency, at most ``MAX_AMOUNT_MINOR`` of them."""
        amount, currency = data["amount"], data["currency"]
        try:
            minor = amount_to_minor(amount, currency)
        except ValueError:  # two decimal places at most, so only a currency without a minor unit gets here
            raise serializers.ValidationError(
                {"amount": [f"{currency} has no minor unit: a whole amount, please."]}
            ) from None
        if minor > MAX_AMOUNT_MINOR:
            raise serializers.ValidationError(
                {"amount": [f"Ensure this value is less than or equal to {max_amount(currency)} for {currency}."]}
            )
        return data

    @classmethod
    def openapi_rules(cls) -> dict:
        """The schema of what ``validate()`` checks: an amount's bound and decimals depend on its currency.

        One branch per kind of currency (two, three or no decimals); a check without a currency is in usd.
        Amounts have at most two decimals, so a three-decimal currency's largest is 99999.99.
        """

        def amount(currency: str) -> dict:
            largest = max_amount(currency).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
            return _amount_schema(whole_digits=len(str(int(largest))), cents=currency_exponent(currency) > 0)

        others = sorted(ZERO_DECIMAL | THREE_DECIMAL)
        branches = [  # usd's kind, the default, named by what it is not
            {"properties": {"currency": {"not": {"enum": others}}, "amount": amount("usd")}},
            *(
                {"properties": {"currency": branch_enum(sorted(codes)), "amount": amount(min(codes))}}
                | {"required": ["currency"]}
                for codes in (THREE_DECIMAL, ZERO_DECIMAL)
            ),
        ]
        not_decimal = {"type": None, "format": None, "pattern": None}  # replaced by an anyOf of string and number
        daily_total = [  # 0 to MAX_DAILY_TOTAL, null, or "" (DRF reads an empty decimal as null)
            {
                "type": "string",
                "nullable": True,
                "pattern": r"^(?:|(?:0|[1-9]\d{0,7})(?:\.\d{1,2})?|100000000(?:\.00?)?)$",
            },
            {"type": "number", "minimum": 0, "maximum": float(MAX_DAILY_TOTAL), "multipleOf": 0.01},
        ]
        return {
            "properties": {
                "amount": {**not_decimal, **_amount_schema(whole_digits=8, cents=True)},
                "currency": {"enum": sorted(ISO_4217), "pattern": None, "minLength": None, "maxLength": None},
                "card_fingerprint": {"pattern": r"^[A-Za-z0-9_-]*$"},
                "daily_total": {**not_decimal, "nullable": None, "anyOf": daily_total},
                "ip": {  # an address in either family, or null
                    "type": None,
                    "nullable": None,
                    "minLength": None,
                    "anyOf": [
                        {"type": "string", "format": "ipv4", "nullable": True},
                        {"type": "string", "format": "ipv6"},
                    ],
                },
            },
            "anyOf": branches,
        }


class ReviewOutput(serializers.Serializer):
    state = serializers.ChoiceField(choices=FraudReview.State.choices)
    opened_reason = serializers.ChoiceField(choices=FraudReview.Opened.choices)
    opened_by = serializers.CharField()
    opened_at = serializers.DateTimeField()
    resolution = serializers.CharField()
    note = serializers.CharField()
    closed_by = serializers.CharField()
    closed_at = serializers.DateTimeField(allow_null=True)


class CheckOutput(serializers.Serializer):
    """A check as the API shows it: the original contract's ``ok``, ``decision`` and ``reason`` plus the explanation.

    It renders the GET and the review's answers and documents all three; the check itself answers
    with ``check_to_dict``, the same JSON built by hand (why, measured: ``fraud.views.CheckView``).
    A test holds the two equal.
    """

    ok = serializers.SerializerMethodField()
    decision = serializers.ChoiceField(choices=["allow", "block", "review"])
    reason = serializers.CharField()
    check_id = serializers.CharField()
    rule = serializers.CharField()
    observed = serializers.DictField()
    limit = serializers.CharField()
    ruleset_version = serializers.CharField()
    email = serializers.CharField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    card_type = serializers.CharField()
    payment_id = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    review = serializers.SerializerMethodField()

    def get_ok(self, check) -> bool:
        return check.decision != "block"

    def get_payment_id(self, check) -> str | None:
        return check.payment_ref or None

    @extend_schema_field(ReviewOutput(allow_null=True))
    def get_review(self, check):
        review = getattr(check, "review", None)
        return ReviewOutput(review).data if review else None


class ReviewInput(serializers.Serializer):
    action = serializers.ChoiceField(choices=REVIEW_ACTIONS)
    resolution = serializers.ChoiceField(
        choices=FraudReview.Resolution.choices, required=False, default="", help_text="Required to reject."
    )
    note = TextField(required=False, default="", allow_blank=True, max_length=NOTE_MAX_LENGTH)

    @classmethod
    def openapi_rules(cls) -> dict:
        """``fraud_review_act``'s rule in the schema: a rejection needs a resolution. (Its default "" is no choice to send.)"""
        return {
            "properties": {"resolution": {"default": None}},
            "anyOf": [
                {"properties": {"action": branch_enum(["open", "approve"])}},
                {"properties": {"action": branch_enum(["reject"])}, "required": ["resolution"]},
            ],
        }


def _iso(moment):
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def check_to_dict(check) -> dict:
    """``CheckOutput(check).data`` in 1/80 of the time, for the fraud check's hot path (``fraud.views.CheckView``)."""
    review = getattr(check, "review", None)
    return {
        "ok": check.decision != "block",
        "decision": check.decision,
        "reason": check.reason,
        "check_id": check.check_id,
        "rule": check.rule,
        "observed": check.observed,
        "limit": check.limit,
        "ruleset_version": check.ruleset_version,
        "email": check.email,
        "amount": f"{check.amount:.2f}",
        "currency": check.currency,
        "card_type": check.card_type,
        "payment_id": check.payment_ref or None,
        "created_at": _iso(check.created_at),
        "review": None
        if review is None
        else {
            "state": review.state,
            "opened_reason": review.opened_reason,
            "opened_by": review.opened_by,
            "opened_at": _iso(review.opened_at),
            "resolution": review.resolution,
            "note": review.note,
            "closed_by": review.closed_by,
            "closed_at": _iso(review.closed_at),
        },
    }


# --- Rule sets and backtests (GET /api/fraud/rulesets, POST /api/fraud/backtest) ----------------------------

MAX_RULE_COUNT = 1_000_000  # the largest count a rule may name
MAX_RULE_AMOUNT = Decimal("9999999999.99")  # 12 digits, 2 of them decimals
MAX_ALLOWED_EMAILS = 1_000
MAX_DOT_DOMAINS = 100
BACKTEST_DEFAULT_DAYS = 30  # a backtest without since replays this many days
_RULE_AMOUNT = r"^(?:0|[1-9]\d{0,9})(?:\.\d{1,2})?$"
_DOMAIN = r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"


@extend_schema_field(
    {
        "anyOf": [
            {"type": "string", "pattern": _RULE_AMOUNT},
            {"type": "number", "minimum": 0, "maximum": float(MAX_RULE_AMOUNT), "multipleOf": 0.01},
        ]
    }
)
class RuleAmountField(serializers.DecimalField):
    """0 to 9999999999.99: a plain decimal string (no sign, exponent or spaces) or a JSON number."""

    def __init__(self, **kwargs):
        super().__init__(max_digits=12, decimal_places=2, min_value=Decimal(0), max_value=MAX_RULE_AMOUNT, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or (isinstance(data, str) and not re.fullmatch(_RULE_AMOUNT, data)):
            self.fail("invalid")
        return super().to_internal_value(data)


class AllowedEmailField(serializers.EmailField):
    """An address to always allow: as sent, no spaces or control characters; lowercased like the checks' emails."""

    def __init__(self, **kwargs):
        super().__init__(max_length=254, trim_whitespace=False, **kwargs)

    def run_validation(self, data=serializers.empty):
        value = super().run_validation(data)  # as sent: a space around it is no address
        if not value.isprintable():  # Django's validator allows control characters in a quoted local part
            self.fail("invalid")
        return normalize_email(value)


@extend_schema_field({"type": "string", "pattern": _DOMAIN, "maxLength": 253})
class DomainField(TextField):
    """A domain name (``gmail.com``), lowercased."""

    def __init__(self, **kwargs):
        super().__init__(max_length=253, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not re.fullmatch(_DOMAIN, value):
            raise serializers.ValidationError("Must be a domain name, e.g. gmail.com.")
        return value.lower()


class BoundedListField(serializers.ListField):
    """A list whose length is checked before its items are: 10,000 items cost one check, not 10,000."""

    def to_internal_value(self, data):
        if isinstance(data, list) and self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


def _count(*, least: int = 0, help_text: str) -> WholeNumberField:
    return WholeNumberField(required=False, min_value=least, max_value=MAX_RULE_COUNT, help_text=help_text)


class RulesInput(ClosedSerializer):
    """Changes to the rules in force: only the fields sent change. Counts' limits of 0 turn a signal off."""

    block_prepaid = TrueFalseField(required=False, help_text="Block prepaid cards.")
    max_per_hour = _count(least=1, help_text="Checks per card per hour (blocked from this many).")
    max_amount_day = RuleAmountField(required=False, help_text="Amount per email and currency per 24 h.")
    review_amount = RuleAmountField(required=False, help_text="Review payments above this amount.")
    email_allow = BoundedListField(
        child=AllowedEmailField(), required=False, max_length=MAX_ALLOWED_EMAILS, help_text="Always allowed emails."
    )
    max_cards_per_email_day = _count(help_text="Distinct cards per email per 24 h (0: off).")
    max_emails_per_card_day = _count(help_text="Distinct emails per card per 24 h (0: off).")
    max_declines_per_card_hour = _count(help_text="Blocked or declined attempts per card per hour (0: off).")
    max_per_ip_hour = _count(help_text="Checks per IP address per hour (0: off).")
    dot_domains = BoundedListField(
        child=DomainField(),
        required=False,
        max_length=MAX_DOT_DOMAINS,
        help_text="Mail domains whose addresses ignore dots (gmail.com).",
    )


class BacktestInput(ClosedSerializer):
    """A proposal, exactly one of ``rules`` and ``version``, and the history to replay it on."""

    rules = RulesInput(required=False, help_text="The rules in force with these fields changed.")
    version = WholeNumberField(
        required=False,
        min_value=1,
        max_value=2**31 - 1,
        help_text="A stored version's rules (1: the GUARD_* settings).",
    )
    since = MomentField(
        required=False,
        default_timezone=UTC,
        help_text="Replay the checks from this moment (ISO-8601; naive means UTC); not in the future "
        "(400 otherwise: a rule OpenAPI cannot state). Default: 30 days ago.",
    )

    def validate_since(self, value):
        if value > timezone.now():
            raise serializers.ValidationError("Must not be in the future.")
        return value

    def validate(self, data):
        if ("rules" in data) == ("version" in data):
            both = "rules" in data
            raise serializers.ValidationError(
                {
                    "version" if both else "rules": [
                        "Send rules or version, not both."
                        if both
                        else "Send rules (changes to the rules in force) or version (a stored version)."
                    ]
                }
            )
        data.setdefault("since", timezone.now() - timedelta(days=BACKTEST_DEFAULT_DAYS))
        return data

    @classmethod
    def openapi_rules(cls) -> dict:
        return {**super().openapi_rules(), "oneOf": [{"required": ["rules"]}, {"required": ["version"]}]}


class RulesOutput(serializers.Serializer):
    """Every rule of a version (``RuleConfig.as_dict``): amounts as decimal strings, lists sorted."""

    block_prepaid = serializers.BooleanField()
    max_per_hour = serializers.IntegerField()
    max_amount_day = serializers.CharField()
    review_amount = serializers.CharField()
    email_allow = serializers.ListField(child=serializers.CharField())
    max_cards_per_email_day = serializers.IntegerField()
    max_emails_per_card_day = serializers.IntegerField()
    max_declines_per_card_hour = serializers.IntegerField()
    max_per_ip_hour = serializers.IntegerField()
    dot_domains = serializers.ListField(child=serializers.CharField())


class RuleSetOutput(serializers.Serializer):
    version = serializers.IntegerField(help_text="1 is the GUARD_* settings; stored versions count from 2.")
    label = serializers.CharField(help_text='"v2"; for version 1 the digest version ("v1-…") stamped on its checks.')
    source = serializers.SerializerMethodField()
    state = serializers.ChoiceField(
        choices=[*RuleSet.State.values, "fallback"],
        help_text="Version 1 is active while no stored version is, else the fallback.",
    )
    shadow = serializers.BooleanField(help_text="Every live check also evaluates it (its decision is only stored).")
    note = serializers.CharField()
    rules = serializers.SerializerMethodField()
    based_on = serializers.CharField(help_text="The version it was copied from.")
    created_by = serializers.CharField()
    created_at = serializers.DateTimeField(allow_null=True)
    shadow_by = serializers.CharField()
    shadow_at = serializers.DateTimeField(allow_null=True, help_text="When its first shadow run began.")
    requested_by = serializers.CharField()
    requested_at = serializers.DateTimeField(allow_null=True)
    approved_by = serializers.CharField()
    activated_by = serializers.CharField()
    activated_at = serializers.DateTimeField(allow_null=True)
    retired_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(RulesOutput)
    def get_rules(self, version) -> dict:
        config = version.config if isinstance(version, SettingsVersion) else ruleset_config(version)
        return RulesOutput(config.as_dict()).data

    @extend_schema_field(serializers.ChoiceField(choices=["settings", "stored"]))
    def get_source(self, version) -> str:
        return "settings" if isinstance(version, SettingsVersion) else "stored"


class RuleSetPageQuery(QuerySerializer):
    page = serializers.IntegerField(required=False, min_value=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=200)


@extend_schema_serializer(component_name="PaginatedRuleSetList")
class RuleSetPageSerializer(OutputSerializer):
    """One page of versions, newest first, version 1 last (``echopilot.pagination.Pagination.paginate``)."""

    count = serializers.IntegerField(help_text="Versions on every page together, version 1 included.")
    next = serializers.URLField(allow_null=True, help_text="The next page, null on the last.")
    previous = serializers.URLField(allow_null=True, help_text="The previous page, null on the first.")
    results = RuleSetOutput(many=True)


class RuleSetResponse(OutputSerializer):
    ruleset = RuleSetOutput()


class RuleFiguresOutput(serializers.Serializer):
    flagged_fraud = serializers.IntegerField()
    flagged_legitimate = serializers.IntegerField()
    precision = serializers.CharField(allow_null=True, help_text="Four decimals; null when it flagged none labelled.")
    recall = serializers.CharField(allow_null=True, help_text="Four decimals; null without fraud labels.")


class FiguresOutput(serializers.Serializer):
    """One version's decisions on the labelled history (``fraud.labels.LabelledMetrics``)."""

    checks = serializers.IntegerField()
    fraud = serializers.IntegerField()
    legitimate = serializers.IntegerField()
    fraud_caught = serializers.IntegerField(help_text="Fraud it blocked or sent to review.")
    fraud_caught_rate = serializers.CharField(allow_null=True)
    good_blocked = serializers.IntegerField(help_text="Legitimate payments it blocked.")
    good_blocked_rate = serializers.CharField(allow_null=True)
    good_reviewed = serializers.IntegerField()
    reviews = serializers.IntegerField()
    review_load = serializers.CharField(allow_null=True, help_text="Reviews per replayed check.")
    rules = serializers.DictField(child=RuleFiguresOutput(), help_text="Per rule that flagged a labelled check.")


class ReportVersionsOutput(serializers.Serializer):
    current = serializers.CharField()
    proposed = serializers.CharField()


class ReportExampleOutput(serializers.Serializer):
    check_id = serializers.CharField()
    before = serializers.CharField()
    after = serializers.CharField()


class ReportLabelsOutput(serializers.Serializer):
    fraud = serializers.IntegerField()
    legitimate = serializers.IntegerField()
    unlabelled = serializers.IntegerField()


class BacktestReportOutput(serializers.Serializer):
    """What the rules in force and the proposed ones decide on the stored checks (``fraud.backtest.report_dict``)."""

    since = serializers.CharField()
    ruleset = ReportVersionsOutput()
    checks = serializers.IntegerField()
    changed = serializers.IntegerField(help_text="Checks the proposal decides differently.")
    table = serializers.DictField(child=serializers.IntegerField(), help_text='"before->after": checks.')
    examples = ReportExampleOutput(many=True)
    labels = ReportLabelsOutput()
    current = FiguresOutput()
    proposed = FiguresOutput()


class BacktestJobOutput(serializers.Serializer):
    job_id = serializers.CharField()
    state = serializers.ChoiceField(choices=BacktestRun.State.choices)
    version = serializers.SerializerMethodField()
    label = serializers.SerializerMethodField()
    rules = RulesOutput()
    current_version = serializers.CharField(help_text="The version in force when it was asked for.")
    since = serializers.DateTimeField()
    checks = serializers.IntegerField(help_text="Stored checks in the history when it was asked for.")
    requested_by = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    report = serializers.SerializerMethodField()
    error = serializers.CharField(help_text="Why a failed run failed.")

    def get_version(self, job) -> int | None:
        """The stored version proposed; null for rules sent in the request (or version 1)."""
        return job.ruleset.version if job.ruleset else None

    def get_label(self, job) -> str:
        """The proposal's version label: the stored version's ("v3"), else a digest of its rules ("v1-…")."""
        return RuleConfig.from_dict(job.rules, label=job.ruleset.label if job.ruleset else "").version

    @extend_schema_field(BacktestReportOutput(allow_null=True))
    def get_report(self, job):
        return BacktestReportOutput(job.report).data if job.report is not None else None


class BacktestJobResponse(OutputSerializer):
    job = BacktestJobOutput()
