from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiKey(models.Model):
    """A named key for the ``X-Dash-Key`` header, created in the admin.

    Only a SHA-256 hash of the key is stored; the key itself is shown once, on
    the page that follows its creation. Keys are long random strings, so a fast
    hash is enough (there is nothing to brute-force). A key stops working when
    revoked or past its expiry.
    """

    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(
        max_length=16, editable=False, help_text="The first characters of the key, to recognise it."
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, editable=False
    )
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Leave empty for a key that does not expire.")
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        ordering = ["name"]
        permissions = [
            ("revoke_apikey", "Can revoke API keys"),
            ("view_api_docs", "Can read the API docs and schema in a browser"),
        ]

    def __str__(self):
        return self.name

    def is_active(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class Heartbeat(models.Model):
    """One row per run of the scheduler's heartbeat task: proof that a qcluster is alive."""

    node = models.CharField(max_length=100)
    pid = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.node}/{self.pid} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class TaskQueueEvent(models.Model):
    """What the watchdog in ``manage.py serve`` saw and did to one of its qclusters (``node``).

    A qcluster that ``exited`` or ``stalled`` (it held work and finished nothing for
    ``TASKS_STALL_SECONDS``) is ``restarted``; once it finishes a task again it has
    ``recovered``. A stall stays open until the node's next ``recovered``;
    ``stalled_since`` is the last time the node was seen finishing a task.
    """

    class Event(models.TextChoices):
        EXITED = "exited"
        STALLED = "stalled"
        RESTARTED = "restarted"
        RECOVERED = "recovered"

    node = models.CharField(max_length=100)
    event = models.CharField(max_length=10, choices=Event.choices)
    reason = models.CharField(max_length=300, blank=True)
    stalled_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["node", "event", "created_at"], name="taskqueueevent_node_event")]

    def __str__(self):
        return f"{self.node} {self.event} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class Counter(models.Model):
    """A named count shared by every process and node: a rate-limit window, or the audit write failures.

    Only ``echopilot.counters`` changes it: one ``UPDATE ... SET value = value + 1`` (or the
    ``INSERT`` of the first count), so parallel requests lose no count on SQLite and PostgreSQL
    alike. A counter with ``expires_at`` (a rate-limit window) is deleted by retention after it.
    """

    name = models.CharField(max_length=150, unique=True)
    value = models.BigIntegerField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.name} = {self.value}"
