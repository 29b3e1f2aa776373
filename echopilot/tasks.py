"""Task entry points of the platform (django-q2 calls these by dotted path)."""

import os

from django.conf import settings
from django.utils import timezone

from echopilot.models import Heartbeat


def heartbeat() -> str:
    """Record that a qcluster node is alive (old heartbeats are pruned by ``observability.tasks.retention``)."""
    Heartbeat.objects.create(node=settings.NODE_NAME, pid=os.getpid(), created_at=timezone.now())
    return f"heartbeat from {settings.NODE_NAME}/{os.getpid()}"
