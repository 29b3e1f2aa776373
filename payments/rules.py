"""Pure rules of the ledger: status precedence.

Money (currencies, minor units) is ``echopilot.money``; email addresses are ``echopilot.emails``.
"""

from payments.models import Payment

_RANK = {
    Payment.Status.PENDING: 0,
    Payment.Status.FAILED: 1,
    Payment.Status.SUCCEEDED: 2,
    Payment.Status.REFUNDED: 3,
}


def status_advances(current: str, new: str) -> bool:
    """Whether a payment in ``current`` may move to ``new``: only forward, refunded is terminal."""
    return _RANK[new] > _RANK[current]
