"""Readiness checks: plain functions, each returning None when fine or a short reason."""

import uuid

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

from echopilot.taskqueue import process_started_at, stall_text, task_queue_stall, task_queue_state

_migrations_ok = False


def check_database() -> str | None:
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"
    return None


def check_migrations() -> str | None:
    """Unapplied migrations; remembered once fine (they cannot un-apply themselves)."""
    global _migrations_ok
    if _migrations_ok:
        return None
    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        return f"cannot be read ({type(exc).__name__})"
    if plan:
        return f"{len(plan)} unapplied"
    _migrations_ok = True
    return None


def check_cache() -> str | None:
    key = f"readyz:{uuid.uuid4().hex}"
    try:
        cache.set(key, "1", timeout=10)
        value = cache.get(key)
        cache.delete(key)
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"
    return None if value == "1" else "did not return what was written"


def check_tasks() -> str | None:
    """The task queue: heartbeat or a due schedule overdue, or a stall the watchdog recorded (echopilot.taskqueue)."""
    try:
        stall = task_queue_stall(task_queue_state(), started_at=process_started_at())
    except Exception as exc:
        return f"cannot be read ({type(exc).__name__})"
    return stall_text(stall) if stall else None


READINESS_CHECKS = {
    "database": check_database,
    "migrations": check_migrations,
    "cache": check_cache,
    "tasks": check_tasks,
}
NEEDS_DATABASE = ("migrations", "tasks")


def readiness(*, exclude: frozenset[str] = frozenset()) -> dict[str, str]:
    """The failed checks by name (empty when ready), except those in ``exclude``.

    Migrations and tasks are only checked on a reachable database.
    """
    failed = {}
    for name, check in READINESS_CHECKS.items():
        if name in exclude or (name in NEEDS_DATABASE and "database" in failed):
            continue
        reason = check()
        if reason:
            failed[name] = reason
    return failed
