"""What became of a check, known afterwards: its label, and the figures that judge a rule set by the labels.

A check is labelled

- ``fraud`` when its payment was disputed (``charge.dispute.created``), refunded
  with Stripe's reason ``fraudulent``, or its review was rejected with the
  resolution ``fraud``;
- ``legitimate`` when a reviewer approved it, or its payment succeeded (and was
  not refunded) at least ``GUARD_LABEL_LEGIT_DAYS`` days ago and was not
  disputed;
- unlabelled (None) otherwise: too recent to tell, no payment (a blocked check
  never became one), failed, refunded for another reason, or rejected for a
  reason other than fraud.

When both apply, fraud wins: a payment a reviewer approved that is disputed
later was fraud that got through.

Labels are computed, not stored: the backtest reads their inputs in its one
query (``LABEL_FIELDS``: joins of the payment and the review, the times
compared in the query) and calls ``label`` per row.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from django.conf import settings
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.utils import timezone

from fraud.models import FraudCheck, FraudReview
from fraud.rules import BLOCK, REVIEW, Decision
from payments.models import Payment

FRAUD = "fraud"
LEGITIMATE = "legitimate"
FRAUDULENT_REFUND = "fraudulent"
PLACES = Decimal("0.0001")

# A check's label inputs, in ``label``'s argument order, for ``values_list`` after ``annotate(**label_annotations())``
# (left joins: None when absent). The two times are compared in the query: parsing two datetimes per row
# cost more than the rest of the labels.
LABEL_FIELDS = (
    "payment__status",
    "label_paid_before",
    "label_disputed",
    "payment__refund_reason",
    "review__state",
    "review__resolution",
)


def label_annotations(cutoff: datetime) -> dict:
    """The computed label inputs: the payment was made before ``cutoff``; it was disputed."""
    return {
        "label_paid_before": ExpressionWrapper(Q(payment__created_at__lte=cutoff), output_field=BooleanField()),
        "label_disputed": ExpressionWrapper(Q(payment__disputed_at__isnull=False), output_field=BooleanField()),
    }


def legit_before(now: datetime | None = None) -> datetime:
    """A succeeded payment created before this moment and not disputed is legitimate."""
    return (now or timezone.now()) - timedelta(days=settings.GUARD_LABEL_LEGIT_DAYS)


def label(
    payment_status: str | None,
    paid_before: bool | None,
    disputed: bool | None,
    refund_reason: str | None,
    review_state: str | None,
    review_resolution: str | None,
) -> str | None:
    """``fraud``, ``legitimate`` or None from the check's label inputs.

    ``paid_before``: the payment was created before ``legit_before(now)``; ``disputed``: it has a dispute.
    """
    if (
        disputed
        or refund_reason == FRAUDULENT_REFUND
        or (review_state == FraudReview.State.REJECTED and review_resolution == FraudReview.Resolution.FRAUD)
    ):
        return FRAUD
    if review_state == FraudReview.State.APPROVED:
        return LEGITIMATE
    if payment_status == Payment.Status.SUCCEEDED and paid_before:
        return LEGITIMATE
    return None


def check_label(check: FraudCheck, *, now: datetime | None = None) -> str | None:
    """One check's label (its payment and review are read if not loaded already)."""
    payment = check.payment
    review = getattr(check, "review", None)  # RelatedObjectDoesNotExist is an AttributeError
    return label(
        payment.status if payment else None,
        payment.created_at <= legit_before(now) if payment else None,
        payment.disputed_at is not None if payment else None,
        payment.refund_reason if payment else None,
        review.state if review else None,
        review.resolution if review else None,
    )


@dataclass
class LabelledMetrics:
    """The figures of one rule set's decisions on a history, fed one replayed decision and label at a time.

    A rule *flags* a check when it decided block or review. Precision of a rule:
    of the labelled checks it flagged, the share labelled fraud; recall: of the
    checks labelled fraud, the share it flagged. Ratios are exact ``Fraction``s,
    None when their denominator is 0.
    """

    checks: int = 0
    reviews: int = 0
    fraud: int = 0
    legitimate: int = 0
    fraud_caught: int = 0  # fraud decided block or review
    good_blocked: int = 0  # legitimate decided block
    good_reviewed: int = 0  # legitimate sent to review
    flagged_fraud: Counter = field(default_factory=Counter)  # rule -> fraud checks it flagged
    flagged_legitimate: Counter = field(default_factory=Counter)  # rule -> legitimate checks it flagged

    def add(self, decision: Decision, check_label: str | None) -> None:
        self.checks += 1
        flagged = decision.outcome == BLOCK or decision.outcome == REVIEW
        if decision.outcome == REVIEW:
            self.reviews += 1
        if check_label == FRAUD:
            self.fraud += 1
            if flagged:
                self.fraud_caught += 1
                self.flagged_fraud[decision.rule] += 1
        elif check_label == LEGITIMATE:
            self.legitimate += 1
            if flagged:
                self.good_blocked += decision.outcome == BLOCK
                self.good_reviewed += decision.outcome == REVIEW
                self.flagged_legitimate[decision.rule] += 1

    @staticmethod
    def _ratio(part: int, whole: int) -> Fraction | None:
        return Fraction(part, whole) if whole else None

    @property
    def fraud_caught_rate(self) -> Fraction | None:
        return self._ratio(self.fraud_caught, self.fraud)

    @property
    def good_blocked_rate(self) -> Fraction | None:
        return self._ratio(self.good_blocked, self.legitimate)

    @property
    def review_load(self) -> Fraction | None:
        """Reviews per replayed check (all of them, labelled or not)."""
        return self._ratio(self.reviews, self.checks)

    @property
    def rules(self) -> list[str]:
        return sorted(set(self.flagged_fraud) | set(self.flagged_legitimate))

    def precision(self, rule: str) -> Fraction | None:
        return self._ratio(self.flagged_fraud[rule], self.flagged_fraud[rule] + self.flagged_legitimate[rule])

    def recall(self, rule: str) -> Fraction | None:
        return self._ratio(self.flagged_fraud[rule], self.fraud)

    def as_dict(self) -> dict:
        """Counts as integers, ratios as strings with four decimals (None when undefined), for JSON."""

        def shown(value: Fraction | None) -> str | None:
            return None if value is None else str((Decimal(value.numerator) / value.denominator).quantize(PLACES))

        return {
            "checks": self.checks,
            "fraud": self.fraud,
            "legitimate": self.legitimate,
            "fraud_caught": self.fraud_caught,
            "fraud_caught_rate": shown(self.fraud_caught_rate),
            "good_blocked": self.good_blocked,
            "good_blocked_rate": shown(self.good_blocked_rate),
            "good_reviewed": self.good_reviewed,
            "reviews": self.reviews,
            "review_load": shown(self.review_load),
            "rules": {
                rule: {
                    "flagged_fraud": self.flagged_fraud[rule],
                    "flagged_legitimate": self.flagged_legitimate[rule],
                    "precision": shown(self.precision(rule)),
                    "recall": shown(self.recall(rule)),
                }
                for rule in self.rules
            },
        }
