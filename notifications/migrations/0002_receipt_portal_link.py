import re

from django.db import migrations, models

# The same text as notifications.links.PORTAL_LINK_PLACEHOLDER (a migration keeps its own copy).
PLACEHOLDER = "[a personal link to your payments, created when this email is sent]"
PORTAL_LINK = re.compile(r"""[^\s"'<>]*/portal\?e=[^\s"'<>]*""")


def receipts_without_links(apps, schema_editor):
    """Stored receipts held a working 168-hour portal link: put the placeholder in its place.

    Each gets ``portal_link_for`` (its recipient), so one still queued, or sent
    again, gets a fresh link when it is handed to SMTP.
    """
    Email = apps.get_model("notifications", "Email")
    receipts = Email.objects.filter(kind="receipt", body__contains="/portal?e=").only("id", "to", "body", "html")
    batch = []
    for email in receipts.iterator(chunk_size=500):
        email.body = PORTAL_LINK.sub(PLACEHOLDER, email.body)
        email.html = PORTAL_LINK.sub(PLACEHOLDER, email.html)
        email.portal_link_for = email.to[0] if len(email.to) == 1 else ""
        batch.append(email)
        if len(batch) == 500:
            Email.objects.bulk_update(batch, ["body", "html", "portal_link_for"])
            batch = []
    Email.objects.bulk_update(batch, ["body", "html", "portal_link_for"])


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="email",
            name="portal_link_for",
            field=models.CharField(
                blank=True,
                help_text="Receipts: the address a portal link is created for when the email is handed to SMTP "
                "(it replaces the placeholder in the body; the link itself is never stored). Blank: no link.",
                max_length=254,
            ),
        ),
        migrations.RunPython(receipts_without_links, migrations.RunPython.noop, elidable=True),
    ]
