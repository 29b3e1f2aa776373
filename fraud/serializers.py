import re
from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from echopilot.emails import normalize_email
from echopilot.money import MAX_AMOUNT_MINOR, amount_to_minor, is_currency, max_amount
from fraud.models import FraudReview
from fraud.services import REVIEW_ACTIONS
from payments.models import Payment

# A caller's own daily total: a sum of payments, so larger than one payment may be, and still far inside the
# 14-digit column. One payment is bounded by its currency (``echopilot.money.max_amount``), checked in validate().
MAX_DAILY_TOTAL = Decimal("100000000.00")


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
    currency = serializers.CharField(default="usd", max_length=3, min_length=3, help_text="ISO 4217, e.g. usd.")
    card_fingerprint = serializers.CharField(required=False, default="", allow_blank=True, max_length=64)
    payment_id = serializers.CharField(required=False, allow_null=True, default=None, max_length=255)
    recent_count = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=0, max_value=1_000_000
    )
    daily_total = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        required=False,
        allow_null=True,
        default=None,
        min_value=Decimal("0"),
        max_value=MAX_DAILY_TOTAL,
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

    This serializer documents the shape; ``check_to_dict`` produces it (a DRF
    serializer costs as much as the check's counting query on the hot path).
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
    resolution = serializers.ChoiceField(choices=FraudReview.Resolution.choices, required=False, default="")
    note = serializers.CharField(required=False, default="", allow_blank=True, max_length=2000)


def _iso(moment):
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def check_to_dict(check) -> dict:
    """The API's representation of a check (the shape ``CheckOutput`` documents)."""
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
