import pytest

from payments.models import Payment
from payments.rules import status_advances

S = Payment.Status


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.PENDING, S.FAILED),
        (S.PENDING, S.SUCCEEDED),
        (S.FAILED, S.SUCCEEDED),
        (S.SUCCEEDED, S.REFUNDED),
        (S.PENDING, S.REFUNDED),
    ],
)
def test_status_moves_forward(current, new):
    assert status_advances(current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.SUCCEEDED, S.FAILED),
        (S.REFUNDED, S.SUCCEEDED),
        (S.REFUNDED, S.FAILED),
        (S.FAILED, S.PENDING),
        (S.SUCCEEDED, S.SUCCEEDED),
    ],
)
def test_status_never_moves_back_or_repeats(current, new):
    assert not status_advances(current, new)
