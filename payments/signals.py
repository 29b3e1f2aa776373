"""What the ledger announces to the apps above it; they connect receivers, payments never imports them."""

from django.dispatch import Signal

# Sent with ``payment_id`` once the transaction that made the payment's receipt owed has committed
# (``payments.services.payment_receipt_request``). Notifications, which owns receipts, enqueues its task.
receipt_owed = Signal()
