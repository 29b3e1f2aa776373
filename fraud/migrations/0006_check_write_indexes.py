"""Three fewer indexes written by every fraud check (issue #15, the check's throughput).

- ``fraud_email_time`` (email, currency, created_at): the daily amount is counted by ``email_key`` since 0004,
  and the review desk now reads a customer's checks through ``fraud_email_key_time`` with the email as a filter.
- ``fraud_decision_time`` (decision, created_at): nothing reads by decision without a time range (the dashboards
  and metrics group a time range by decision: ``fraud_time``), and PostgreSQL chose it for the card-testing count
  of a card's blocked checks, scanning every card's blocks of the past hour instead of this card's.
- PostgreSQL's ``..._like`` index on ``check_id`` (``varchar_pattern_ops``, which Django adds to a unique
  CharField for LIKE queries): check ids are only ever looked up whole, through the unique index.

Every step only drops an index: instant whatever the table's size (a brief exclusive lock on the table). Undoing
it builds the three again: on 1,000,000 checks a few seconds each, with writes to the table blocked meanwhile.
"""

from django.db import migrations

LIKE_INDEX = "fraud_fraudcheck_check_id_87415db6_like"  # Django's name for it (migration 0001)


def drop_like_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'DROP INDEX IF EXISTS "{LIKE_INDEX}"')


def create_like_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{LIKE_INDEX}" ON "fraud_fraudcheck" ("check_id" varchar_pattern_ops)'
        )


class Migration(migrations.Migration):
    dependencies = [
        ("fraud", "0005_rulesets"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="fraudcheck", name="fraud_email_time"),
        migrations.RemoveIndex(model_name="fraudcheck", name="fraud_decision_time"),
        migrations.RunPython(drop_like_index, create_like_index, elidable=False),
    ]
