from email.utils import make_msgid

from notifications.models import Email, Status


def make_email(**fields) -> Email:
    """A queued email written directly, as if its enqueue had been lost."""
    defaults = {
        "to": ["ann@example.com"],
        "subject": "Hello",
        "body": "Plain text.",
        "status": Status.QUEUED,
        "message_id": make_msgid(domain="echopilot.ai"),
    }
    return Email.objects.create(**{**defaults, **fields})
