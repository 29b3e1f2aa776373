"""The guard counts emails by their canonical key (``email_key``) and may count IP addresses (``ip``).

Existing checks get their ``email_key`` here, in batches of ``BATCH`` rows by primary key, so
neither database holds one huge transaction's worth of row versions in memory; a check without a
card fingerprint also gets the canonical ``card_key`` ("email:<key>"), so velocity keeps counting
the same mailbox across the upgrade. The indexes are built after the fill.
"""

from django.conf import settings
from django.db import migrations, models

from fraud.rules import canonical_email

BATCH = 2000


def fill_email_keys(apps, schema_editor):
    FraudCheck = apps.get_model("fraud", "FraudCheck")
    dot_domains = frozenset(settings.GUARD_CANONICAL_DOT_DOMAINS)
    last = 0
    while True:
        rows = list(
            FraudCheck.objects.filter(pk__gt=last)
            .order_by("pk")
            .only("pk", "email", "card_fingerprint", "card_key")[:BATCH]
        )
        if not rows:
            return
        for row in rows:
            row.email_key = canonical_email(row.email, dot_domains)
            if not row.card_fingerprint:
                row.card_key = f"email:{row.email_key}"
        FraudCheck.objects.bulk_update(rows, ["email_key", "card_key"])
        last = rows[-1].pk


class Migration(migrations.Migration):
    atomic = False  # each batch commits on its own

    dependencies = [
        ("fraud", "0003_review_claim"),
    ]

    operations = [
        migrations.AddField(
            model_name="fraudcheck",
            name="email_key",
            field=models.CharField(default="", editable=False, max_length=254),
        ),
        migrations.AddField(
            model_name="fraudcheck",
            name="ip",
            field=models.GenericIPAddressField(
                blank=True, help_text="The customer's IP address, when sent.", null=True
            ),
        ),
        migrations.RunPython(fill_email_keys, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="fraudcheck",
            index=models.Index(fields=["email_key", "created_at"], name="fraud_email_key_time"),
        ),
        migrations.AddIndex(
            model_name="fraudcheck",
            index=models.Index(
                condition=models.Q(("ip__isnull", False)), fields=["ip", "created_at"], name="fraud_ip_time"
            ),
        ),
    ]
