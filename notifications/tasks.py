"""Task entry points of notifications (django-q2 calls these by dotted path)."""

from collections import Counter

from notifications import services
from payments.models import Payment


def _summary(what: str, outcomes: Counter) -> str:
    counts = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items())) or "nothing due"
    return f"{what}: {counts}"


def email_deliver(email_id: int) -> str:
    return _summary(f"email #{email_id}", services.email_deliver(email_id=email_id))


def receipt_send(payment_id: int) -> str:
    """Enqueued on ``payments.signals.receipt_owed``, sent when the payment's transaction commits."""
    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        return f"receipt of payment #{payment_id}: no such payment"
    receipt = services.receipt_send(payment=payment)
    return f"receipt of {payment.provider_id}: {receipt.public_id if receipt else 'skipped, no valid address'}"


def email_sweep() -> str:
    return _summary("email sweep", services.email_sweep())


def telegram_sweep() -> str:
    return _summary("telegram sweep", services.telegram_sweep())
