"""Task entry points of the platform (django-q2 calls these by dotted path)."""

import os
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from echopilot.models import Heartbeat


def heartbeat() -> str:
    """Record that a qcluster node is alive, and prune old heartbeats."""
    now = timezone.now()
    Heartbeat.objects.create(node=settings.NODE_NAME, pid=os.getpid(), created_at=now)
    cutoff = now - timedelta(hours=settings.HEARTBEAT_RETENTION_HOURS)
    pruned, _ = Heartbeat.objects.filter(created_at__lt=cutoff).delete()
    return f"heartbeat from {settings.NODE_NAME}/{os.getpid()}; pruned {pruned}"
