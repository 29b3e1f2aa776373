"""Existing payments get their outbox flag (payments 0005): owed when the receipt was claimed in the past 7 days
(the email sweep's window, RECEIPT_OWED_DAYS), the payment has an address, and no receipt email exists yet.

This is notifications' migration because receipts are: payments' own migrations never name this app.
"""

from datetime import timedelta

from django.db import migrations
from django.db.models import CharField, Exists, OuterRef, Value
from django.db.models.functions import Concat
from django.utils import timezone

RECEIPT_OWED_DAYS = 7  # frozen here: notifications.services.RECEIPT_OWED_DAYS when this was written


def owed_receipts_flag(apps, schema_editor):
    Payment = apps.get_model("payments", "Payment")
    Email = apps.get_model("notifications", "Email")
    receipt = Email.objects.filter(
        payment=OuterRef("pk"),
        idempotency_key=Concat(Value("receipt:"), OuterRef("provider_id"), output_field=CharField()),
    )
    since = timezone.now() - timedelta(days=RECEIPT_OWED_DAYS)
    Payment.objects.filter(receipt_requested_at__gte=since, receipt_owed=False).exclude(email="").exclude(
        Exists(receipt)
    ).update(receipt_owed=True)


class Migration(migrations.Migration):

    dependencies = [
        ("notifications", "0004_idempotency_fingerprint"),
        ("payments", "0005_receipt_owed"),
    ]

    operations = [
        migrations.RunPython(owed_receipts_flag, migrations.RunPython.noop, elidable=True),
    ]
