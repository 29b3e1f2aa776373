"""What the platform announces to the apps above it; they connect receivers, the platform never imports them."""

from django.dispatch import Signal

# Sent by the watchdog of ``manage.py serve`` (``echopilot.supervisor``), in a thread of its own, when a node's
# qcluster ``stalled`` or ``recovered``: with ``event``, ``node``, ``since`` (aware UTC) and ``reason``.
# Observability, which owns the alerts, sends the stall alert (``observability.stall``).
task_queue_stall_changed = Signal()

# Sent once by ``manage.py serve`` (``echopilot.supervisor``), in a thread of its own, after it started its web
# nodes (not per gunicorn worker, not by a qcluster-only ``serve``). Observability takes the first snapshot.
service_started = Signal()
