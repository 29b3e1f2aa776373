import pytest
from django.test import Client

from tests.constants import WEBHOOK_URL
from tests.payments.stripe_events import SECRET, body, sign

SIGNED = object()  # sign the body correctly


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET


@pytest.fixture
def deliver():
    """POST an event (dict, or a raw str or bytes body) to the webhook; ``signature=None`` sends no header."""

    def post(data, *, signature=SIGNED, content_type: str = "application/json"):
        payload = data if isinstance(data, (str, bytes)) else body(data)
        if signature is SIGNED:
            signature = sign(payload)
        headers = {} if signature is None else {"HTTP_STRIPE_SIGNATURE": signature}
        return Client().post(WEBHOOK_URL, payload, content_type=content_type, **headers)

    return post
