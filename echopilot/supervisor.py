"""The supervisor behind ``manage.py serve``: process groups, the qcluster watchdog, clean stops.

- Every child (a gunicorn node, a qcluster) is started in its own session, so it
  leads a process group that holds everything it forks. Stopping a child means
  stopping its group: SIGTERM, then SIGKILL after ``SERVE_STOP_SECONDS``, until no
  process of the group is left, even when the group's leader is already gone.
- The watchdog restarts a qcluster that exits or stalls, with backoff, writing a
  log line, a ``TaskQueueEvent`` row and a ``task_queue.ndjson`` line each time.
  A qcluster has stalled when it finished no task for ``TASKS_STALL_SECONDS``
  while it holds work (its sentinel reports it working) or while the heartbeat or a
  schedule is overdue. django-q2 wedges when a worker dies while holding the task
  queue's lock (django-q2/django-q2#23): the sentinel replaces the worker, but the
  new ones wait forever for that lock. Only a fresh cluster helps.
- A stall is announced by email and Telegram from here, outside the queue: the
  queue cannot carry the news of its own stall.
- The pid file (``SERVE_RUN_DIR/serve.json``) names this run's processes, so the
  next ``serve`` refuses to start while any of them is alive.
- Once the children are started, the first snapshot is taken (``--web-nodes`` above 0),
  so the snapshot API answers a stored, measured snapshot from the first minute on, not
  only after the hourly task: once per ``serve``, however many gunicorn workers it runs.
- A web node that exits stops the service (a port it cannot bind will not come
  back by itself); the process manager above ``serve`` restarts it.
"""

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil
from django.conf import settings
from django.db import close_old_connections, connections
from django.dispatch import Signal
from django_q.conf import Conf
from django_q.status import Stat

from echopilot.models import TaskQueueEvent
from echopilot.signals import service_started, task_queue_stall_changed
from echopilot.taskqueue import (
    PROGRESS_FILE_ENV,
    Stall,
    task_queue_event_record,
    task_queue_overdue,
    task_queue_state,
)

logger = logging.getLogger(__name__)

RESTART_MAX_DELAY = 60  # seconds; the delay doubles from 1 s with every restart that brings no progress
LOOP_SECONDS = 0.5
KILL_WAIT_SECONDS = 10  # after SIGKILL, for the kernel to take the processes away
PIDFILE_NAME = "serve.json"

Event = TaskQueueEvent.Event


# --- Processes and process groups ----------------------------------------------------------


def describe(process: psutil.Process) -> str:
    try:
        command = " ".join(process.cmdline()) or process.name()
    except psutil.Error:
        command = "?"
    return f"pid {process.pid} ({command[:100]})"


def group_members(pgid: int) -> list[psutil.Process]:
    """The live processes of process group ``pgid`` (zombies waiting for their parent do not count)."""
    if pgid <= 1:
        return []
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return []
    except PermissionError:
        pass  # a member we may not signal still counts
    members = []
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(process)
        except (OSError, psutil.Error):
            continue
    return members


def signal_group(pgid: int, signum: int) -> None:
    if pgid <= 1:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _same_process(pid, create_time) -> psutil.Process | None:
    """The process ``pid`` if it is still the one started at ``create_time`` (pids are reused)."""
    try:
        process = psutil.Process(int(pid))
        if abs(process.create_time() - float(create_time)) < 1 and process.status() != psutil.STATUS_ZOMBIE:
            return process
    except (psutil.Error, TypeError, ValueError):
        pass
    return None


@dataclass
class Child:
    role: str  # web1, q1, ...
    command: list[str]
    env: dict
    cluster: bool
    process: subprocess.Popen | None = None
    started_at: float = 0.0  # wall clock of the current start
    create_time: float = 0.0  # the leader's, as the kernel has it (pid reuse check)
    restart_at: float | None = None  # monotonic time of a pending restart
    restart_reason: str = ""
    restarts: int = 0  # restarts since the cluster last finished a task (the backoff)
    stalled_since: datetime | None = None  # an open stall: the last task it finished before it
    holding_since: float | None = None  # seen holding work (its sentinel: "Working") since, without finishing any

    @property
    def node(self) -> str:
        return self.env["NODE_NAME"]

    @property
    def progress_file(self) -> Path | None:
        path = self.env.get(PROGRESS_FILE_ENV)
        return Path(path) if path else None

    @property
    def pgid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def last_progress(self) -> float:
        """When it last finished a task, or when it started if it has not yet."""
        try:
            finished = self.progress_file.stat().st_mtime if self.progress_file else 0.0
        except OSError:
            finished = 0.0
        return max(finished, self.started_at)

    def observe(self, *, working: bool | None, now: float) -> None:
        """Note whether its sentinel reports work in hand (None: no report to read this time, nothing changes).

        A task finished since the last look starts the count anew.
        """
        if working is None:
            return
        if not working:
            self.holding_since = None
        elif self.holding_since is None or self.last_progress() > self.holding_since:
            self.holding_since = now


def stall_reason(child: Child, *, now: float, overdue: Stall | None) -> str | None:
    """Why ``child`` (a running qcluster) counts as stalled, or None.

    Stalled: for ``TASKS_STALL_SECONDS`` it held work and finished none, or it finished no
    task while the heartbeat or a schedule was overdue. Not judged during
    ``TASKS_START_GRACE_SECONDS`` after its start.
    """
    if now - child.started_at < settings.TASKS_START_GRACE_SECONDS:
        return None
    limit = settings.TASKS_STALL_SECONDS
    if child.holding_since is not None and now - child.holding_since > limit:
        return f"holds tasks and finished none for {now - child.holding_since:.0f} s"
    idle = now - child.last_progress()
    if overdue is not None and idle > limit:
        return f"finished no task for {idle:.0f} s and the {overdue.reason}"
    return None


def stop_children(children: list[Child], *, graceful: bool, say: Callable[[str], None]) -> None:
    """Stop every child's whole process group: SIGTERM, then SIGKILL after ``SERVE_STOP_SECONDS``.

    ``graceful``: SIGTERM goes to each leader only, which stops its own processes in order
    (gunicorn finishes its requests, a qcluster its running tasks). Otherwise, and for a
    group whose leader is gone, SIGTERM goes to every process of the group.
    """
    children = [child for child in children if child.process is not None]
    for child in children:
        if graceful and child.running():
            child.process.send_signal(signal.SIGTERM)
        else:
            signal_group(child.pgid, signal.SIGTERM)

    def remaining() -> list[Child]:
        return [child for child in children if child.running() or group_members(child.pgid)]

    timeout = settings.SERVE_STOP_SECONDS
    deadline = time.monotonic() + timeout
    left = remaining()
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = remaining()
    for child in left:
        members = group_members(child.pgid)
        say(f"{child.role} did not stop in {timeout} s; killing {', '.join(map(describe, members)) or 'it'}")
        signal_group(child.pgid, signal.SIGKILL)
    deadline = time.monotonic() + KILL_WAIT_SECONDS
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = remaining()
    for child in left:
        say(f"{child.role}: still alive after SIGKILL: {', '.join(map(describe, group_members(child.pgid)))}")


# --- Earlier runs ------------------------------------------------------------------------------


def pidfile_path() -> Path:
    return Path(settings.SERVE_RUN_DIR) / PIDFILE_NAME


def earlier_run_alive(path: Path | None = None) -> list[str]:
    """The processes of an earlier ``serve`` (its pid file) that are still alive, described."""
    path = path or pidfile_path()
    try:
        recorded = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        logger.warning("unreadable pid file %s ignored: %s", path, exc)
        return []
    if not isinstance(recorded, dict):
        return []
    alive = []
    serve = recorded.get("serve")
    if isinstance(serve, dict):
        process = _same_process(serve.get("pid"), serve.get("create_time"))
        if process and process.pid != os.getpid():
            alive.append(f"serve: {describe(process)}")
    for child in recorded.get("children") or []:
        try:
            role, pgid, started = str(child["role"]), int(child["pgid"]), float(child["create_time"])
        except (KeyError, TypeError, ValueError):
            continue
        members = []
        for process in group_members(pgid):
            try:
                if process.create_time() >= started - 1:  # not a later group that happens to reuse the id
                    members.append(process)
            except psutil.Error:
                continue
        if members:
            alive.append(f"{role} (process group {pgid}): {', '.join(map(describe, members))}")
    return alive


def live_clusters_here() -> list[str]:
    """qclusters on this host that report to the broker's statistics (every 0.5 s), with their live processes.

    Any qcluster counts, also one no pid file knows about (started by hand, or the
    children of a qcluster whose top process died: a ghost cluster).
    """
    try:
        stats = Stat.get_all()
    except Exception as exc:
        logger.warning("cluster statistics unreadable: %s", type(exc).__name__)
        return []
    found = []
    for stat in stats:
        if getattr(stat, "host", None) != socket.gethostname():
            continue
        pids = {stat.pid, stat.sentinel, stat.monitor, stat.pusher, *stat.workers} - {0, None}
        alive = []
        for pid in sorted(pids):
            try:
                process = psutil.Process(pid)
                if process.status() != psutil.STATUS_ZOMBIE and "qcluster" in process.cmdline():
                    alive.append(process)
            except psutil.Error:
                continue
        if alive:
            found.append(f"qcluster {stat.cluster_id}: {', '.join(map(describe, alive))}")
    return found


def cluster_statuses() -> dict[int, str]:
    """The status each qcluster of this host last reported (``Idle``, ``Working``, ...), by its top process id."""
    try:
        stats = Stat.get_all()
    except Exception as exc:
        logger.warning("cluster statistics unreadable: %s", type(exc).__name__)
        return {}
    return {stat.pid: str(stat.status) for stat in stats if getattr(stat, "host", None) == socket.gethostname()}


# --- The supervisor ------------------------------------------------------------------------------


def in_background(signal: Signal, *, name: str, **kwargs) -> threading.Thread:
    """Send ``signal`` from a daemon thread of its own (the receivers may talk to SMTP, Telegram or the API);
    a failing receiver is logged, nothing else."""

    def send():
        try:
            signal.send(sender=Supervisor, **kwargs)
        except Exception:
            logger.exception("%s (%s) failed", name, kwargs.get("event", "signal"))
        finally:
            connections.close_all()

    thread = threading.Thread(target=send, name=name, daemon=True)
    thread.start()
    return thread


class Supervisor:
    def __init__(self, children: list[Child], *, say: Callable[[str], None], snapshot_at_start: bool = False):
        self.children = children
        self.say = say
        self.snapshot_at_start = snapshot_at_start
        self.stopping = False
        self.next_check = 0.0
        self.check_interval = min(5.0, max(0.5, settings.TASKS_STALL_SECONDS / 5))
        self.alerts: list[threading.Thread] = []
        self.state_unreadable = False  # the last watchdog pass could not read the database (said once)

    def request_stop(self, signum, frame) -> None:
        self.stopping = True

    # -- running --

    def run(self) -> int:
        """Start every child and supervise until SIGTERM/SIGINT or a web node exits; returns the exit code."""
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)
        exit_code = 0
        try:
            for child in self.children:
                self.start(child)
            if self.snapshot_at_start:  # not waited for at stop: it may still be waiting for the API to be ready
                in_background(service_started, name="start-snapshot")
            while not self.stopping:
                exit_code = self.tick()
                if exit_code:
                    break
                time.sleep(LOOP_SECONDS)
        finally:
            stop_children(self.children, graceful=True, say=self.say)
            deadline = time.monotonic() + settings.SERVE_STOP_SECONDS
            for thread in self.alerts:  # an alert being delivered may finish, within the same bound
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
            self.cleanup()
        return exit_code

    def tick(self) -> int:
        for child in self.children:
            if child.process is None:
                if child.restart_at is not None and time.monotonic() >= child.restart_at:
                    try:
                        self.start(child)
                    except OSError as exc:  # no process could be made (memory, process limit): try again later
                        child.process = None
                        self.schedule_restart(child, reason=f"could not be started again ({exc})")
                continue
            code = child.process.poll()
            if code is None:
                continue
            if not child.cluster:
                self.say(f"{child.role} exited with {code}; stopping the others")
                return code or 1
            self.restart(child, event=Event.EXITED, reason=f"exited with code {code}")
        if time.monotonic() >= self.next_check:
            self.next_check = time.monotonic() + self.check_interval
            self.watch()
        return 0

    def start(self, child: Child) -> None:
        if child.progress_file:
            child.progress_file.touch()
        child.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            child.command, cwd=settings.BASE_DIR, env=child.env, start_new_session=True
        )
        child.started_at = time.time()
        try:
            child.create_time = psutil.Process(child.process.pid).create_time()
        except psutil.Error:
            child.create_time = child.started_at
        self.write_pidfile()
        if child.restart_at is None:
            self.say(f"started {child.role} (pid {child.process.pid})")
            return
        child.restart_at = None
        self.say(f"restarted {child.role} (pid {child.process.pid}) after it {child.restart_reason}")
        self.record(child, Event.RESTARTED, f"pid {child.process.pid}, after it {child.restart_reason}")

    def restart(self, child: Child, *, event: str, reason: str) -> None:
        """End the cluster's whole process group (ghosts included), then start it again after the backoff."""
        self.say(f"{child.role} ({child.node}) {reason}; stopping its process group")
        self.record(child, event, reason, stalled_since=child.stalled_since if event == Event.STALLED else None)
        stop_children([child], graceful=False, say=self.say)
        child.process = None
        child.holding_since = None
        self.schedule_restart(child, reason=reason)

    def schedule_restart(self, child: Child, *, reason: str) -> None:
        """Start it again after 1 s, doubling with every restart that brought no progress, up to a minute."""
        child.restarts += 1
        delay = min(RESTART_MAX_DELAY, 2 ** (child.restarts - 1))
        child.restart_at = time.monotonic() + delay
        child.restart_reason = reason
        self.say(f"restarting {child.role} in {delay} s")

    # -- the watchdog --

    def watch(self) -> None:
        clusters = [child for child in self.children if child.cluster and child.running()]
        if not clusters:
            return
        try:
            close_old_connections()
            state = task_queue_state()
        except Exception as exc:  # the database is down: no cluster can progress, and restarting will not help
            if not self.state_unreadable:
                self.say(f"watchdog: cannot read the task queue's state ({type(exc).__name__}); judging nothing")
            self.state_unreadable = True
            connections.close_all()
            return
        if self.state_unreadable:
            self.say("watchdog: the task queue's state can be read again")
            self.state_unreadable = False
        statuses = cluster_statuses()
        now = time.time()
        for child in clusters:
            progress = child.last_progress()
            if progress > child.started_at:  # it finished a task since it (re)started
                child.restarts = 0
                if child.stalled_since is not None:
                    self.recovered(child)
            status = statuses.get(child.pgid)
            child.observe(working=None if status is None else status == str(Conf.WORKING), now=now)
            overdue = task_queue_overdue(state, started_at=datetime.fromtimestamp(child.started_at, UTC))
            reason = stall_reason(child, now=now, overdue=overdue)
            if reason is None:
                continue
            if child.stalled_since is None:
                child.stalled_since = datetime.fromtimestamp(progress, UTC)
                self.alert(event="stalled", node=child.node, since=child.stalled_since, reason=reason)
            self.restart(child, event=Event.STALLED, reason=f"stalled: {reason}")

    def recovered(self, child: Child) -> None:
        since, child.stalled_since = child.stalled_since, None
        self.say(f"{child.role} ({child.node}) recovered: it finishes tasks again")
        self.record(child, Event.RECOVERED, "finishes tasks again", stalled_since=since)
        self.alert(event="recovered", node=child.node, since=since, reason="finishes tasks again")

    def record(self, child: Child, event: str, reason: str, *, stalled_since: datetime | None = None) -> None:
        try:
            task_queue_event_record(node=child.node, event=event, reason=reason, stalled_since=stalled_since)
        except Exception as exc:
            self.say(f"{child.role}: event {event} not recorded ({type(exc).__name__})")
            connections.close_all()

    def alert(self, **details) -> None:
        """Announce the stall or recovery from a thread of its own.

        Observability's receiver delivers the alert over SMTP and Telegram, which must not hold up the watchdog.
        """
        self.alerts = [thread for thread in self.alerts if thread.is_alive()]
        self.alerts.append(in_background(task_queue_stall_changed, name="task-queue-alert", **details))

    # -- the pid file --

    def write_pidfile(self) -> None:
        path = pidfile_path()
        data = {
            "serve": {"pid": os.getpid(), "create_time": psutil.Process().create_time()},
            "children": [
                {"role": child.role, "pgid": child.pgid, "create_time": child.create_time, "command": child.command}
                for child in self.children
                if child.process is not None
            ],
        }
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        try:
            temporary.write_text(json.dumps(data))
            os.replace(temporary, path)
        except OSError as exc:
            self.say(f"pid file {path} not written: {exc}")

    def cleanup(self) -> None:
        survivors = [child.role for child in self.children if child.pgid and group_members(child.pgid)]
        paths = [child.progress_file for child in self.children if child.progress_file]
        if survivors:  # keep the pid file: the next start names them
            self.say(f"not everything stopped ({', '.join(survivors)}); the pid file {pidfile_path()} names them")
        else:
            paths.append(pidfile_path())
        for path in paths:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        self.say("stopped")
