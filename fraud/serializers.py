import re
from decimal import ROUND_DOWN, Decimal

from drf_spectacular.utils import extend_schema_field
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
from echopilot.serializers import TextField, WholeNumberField
from fraud.models import FraudReview
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
