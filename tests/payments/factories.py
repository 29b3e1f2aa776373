from datetime import UTC, datetime
from decimal import Decimal

from payments.models import Payment


def make_payment(provider_id: str, **fields) -> Payment:
    values = {
        "email": "ada@example.com",
        "amount": Decimal("10.00"),
        "status": Payment.Status.SUCCEEDED,
        "created_at": datetime(2026, 1, 1, 12, tzinfo=UTC),
        **fields,
    }
    return Payment.objects.create(provider_id=provider_id, **values)
