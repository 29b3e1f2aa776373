"""Values the tests of several apps share. Plain values only: fixtures are in tests/fixtures, rows in tests/factories."""

from datetime import UTC, datetime

# The first of the keys tests/settings.py configures as DASHBOARD_KEY.
DASH_KEY = "test-dash-key-1"

# The portal's customer and another one; also the default address of the factories' rows.
CUSTOMER = "ann@example.com"
OTHER = "bob@example.com"

# A fixed moment for the observability tests (rules, alerts, reports, snapshots).
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
# A fixed moment for the portal tests (the customer's payments are dated around it).
PORTAL_NOW = datetime(2026, 3, 4, 12, 30, tzinfo=UTC)

# The Stripe webhook endpoint (its secret is in tests/payments/stripe_events.py).
WEBHOOK_URL = "/api/webhooks/stripe"

# What the telegram_api fixture (tests/fixtures/telegram.py) configures.
BOT_TOKEN = "123456:SECRET-bot-token"
CHAT_ID = "-100777"
# What the telegram_webhook fixture (tests/fixtures/telegram.py) configures: the webhook's secret and the
# on-call person allowed to press the buttons.
TELEGRAM_SECRET = "test-webhook-secret_1"
TELEGRAM_USER = 11111111
