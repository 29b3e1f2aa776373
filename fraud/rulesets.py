"""Rule sets as data: the rules in force on every node, drafting, shadow runs and activation.

Version 1 is the ``GUARD_*`` settings, never stored: it is in force whenever no
stored version is active, so a fresh install decides exactly as the settings say.
Stored versions (``fraud.models.RuleSet``) are numbered from 2.

Every node learns which versions are active and in shadow from the fraud check's
own counting query (two subqueries of a tiny table in the statement it runs
anyway, ``fraud.selectors.locked_facts``): a version activated on one node
decides the next check on every node, with no restart, no cache to expire and no
extra round trip. A node keeps the versions it has read (``live_rules``); they
never change once out of draft, so holding them is safe.

Who may do what is the caller's business (the admin's permissions); these
functions keep the rules of the lifecycle, each step one conditional UPDATE on
the state it expects, so two operators acting at once cannot both succeed.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max
from django.utils import timezone
from django_q.tasks import async_task

from echopilot.actors import NOBODY
from echopilot.audit import audit_event
from echopilot.exceptions import Conflict, NotFound
from fraud.backtest import fraud_backtest, report_dict
from fraud.models import BacktestRun, FraudCheck, RuleSet
from fraud.rules import RuleConfig

logger = logging.getLogger(__name__)

ENVIRONMENT = 1  # the version number of the GUARD_* settings
FIRST_STORED = 2
MAX_VERSION = 2**31 - 1  # the largest a RuleSet's version column holds on PostgreSQL
RULE_FIELDS = (  # RuleConfig's rules, as RuleSet columns
    "block_prepaid",
    "max_per_hour",
    "max_amount_day",
    "review_amount",
    "email_allow",
    "max_cards_per_email_day",
    "max_emails_per_card_day",
    "max_declines_per_card_hour",
    "max_per_ip_hour",
    "dot_domains",
)


def ruleset_config(ruleset: RuleSet) -> RuleConfig:
    """The rules a stored version decides by, named by its label ("v2")."""
    return RuleConfig.from_dict({name: getattr(ruleset, name) for name in RULE_FIELDS}, label=ruleset.label)


def current_config() -> RuleConfig:
    """The rules in force now, read from the database: the active version, else the GUARD_* settings."""
    active = RuleSet.objects.filter(state=RuleSet.State.ACTIVE).first()
    return ruleset_config(active) if active else RuleConfig.from_settings()


# --- The rules in force, as a node knows them ------------------------------------------------------------


@dataclass(frozen=True)
class Live:
    """The versions a node last saw active and in shadow (None: the settings; no shadow) and their rules."""

    active_version: int | None = None
    shadow_version: int | None = None
    active: RuleConfig | None = None
    shadow: RuleConfig | None = None

    def config(self) -> RuleConfig:
        """The rules that decide: the active version's, else the settings (read now, so tests can change them)."""
        return self.active or RuleConfig.from_settings()

    def uncounted(self, config: RuleConfig) -> frozenset[str]:
        """The signals neither the deciding rules nor the shadow need counted."""
        return config.uncounted & self.shadow.uncounted if self.shadow else config.uncounted


_live = Live()
_read: dict[int, RuleConfig] = {}  # version -> its rules, as this process has read them (they never change)


def live_rules() -> Live:
    return _live


def live_forget() -> None:
    """Forget every version read (for tests, whose rolled-back rule sets give their numbers to the next test's)."""
    global _live
    _live = Live()
    _read.clear()


def live_refresh(active_version: int | None, shadow_version: int | None) -> Live:
    """Learn the versions a check's counting query found in force; read only the ones this process has not read."""
    global _live
    wanted = [version for version in (active_version, shadow_version) if version and version not in _read]
    for ruleset in RuleSet.objects.filter(version__in=wanted):
        _read[ruleset.version] = ruleset_config(ruleset)
    _live = Live(
        active_version,
        shadow_version,
        _read.get(active_version) if active_version else None,
        _read.get(shadow_version) if shadow_version else None,
    )
    return _live


# --- Lifecycle ----------------------------------------------------------------------------------------------


def ruleset_get(*, version: int) -> RuleSet:
    try:
        return RuleSet.objects.get(version=version)
    except RuleSet.DoesNotExist:
        raise NotFound(f"No rule set has version {version}.", code="not_found") from None


def ruleset_draft(*, note: str, by: str, based_on: RuleConfig | None = None, **values) -> RuleSet:
    """A new draft: ``based_on``'s rules (default: those in force) with ``values`` changed. Numbered max + 1."""
    based_on = based_on or current_config()
    base = {**based_on.as_dict(), **values}
    for attempt in range(3):  # two operators drafting at once: the version number is unique, the loser retries
        number = max(RuleSet.objects.aggregate(top=Max("version"))["top"] or 0, FIRST_STORED - 1) + 1
        try:
            with transaction.atomic():
                ruleset = RuleSet.objects.create(
                    version=number,
                    note=note,
                    based_on=based_on.version,
                    created_by=by,
                    **_model_values(base),
                )
        except IntegrityError:
            if attempt == 2:
                raise
            continue
        audit_event("fraud_guard", "ruleset_drafted", version=ruleset.label, by=by, based_on=ruleset.based_on)
        return ruleset
    raise AssertionError("unreachable")


def _model_values(values: dict) -> dict:
    config = RuleConfig.from_dict(values)
    return {
        **{name: getattr(config, name) for name in RULE_FIELDS},
        "email_allow": sorted(config.email_allow),
        "dot_domains": sorted(config.dot_domains),
    }


def ruleset_update(*, ruleset: RuleSet, by: str, note: str | None = None, **values) -> RuleSet:
    """Change a draft that never ran in shadow; ``Conflict`` (``ruleset_frozen``) for any other."""
    merged = {**ruleset_config(ruleset).as_dict(), **values}
    changes = {**_model_values(merged), "updated_at": timezone.now()}
    if note is not None:
        changes["note"] = note
    updated = RuleSet.objects.filter(pk=ruleset.pk, state=RuleSet.State.DRAFT, shadow_at__isnull=True).update(**changes)
    if not updated:
        raise Conflict(
            f"{ruleset.label} can no longer change: it ran in shadow or left draft. Copy it into a new draft.",
            code="ruleset_frozen",
        )
    for name, value in changes.items():
        setattr(ruleset, name, value)
    audit_event("fraud_guard", "ruleset_changed", version=ruleset.label, by=by)
    return ruleset


def ruleset_shadow_start(*, ruleset: RuleSet, by: str) -> RuleSet:
    """Run a draft or pending version in shadow from the next check on. It is frozen from then on."""
    now = timezone.now()
    try:
        with transaction.atomic():
            started = RuleSet.objects.filter(
                pk=ruleset.pk, state__in=[RuleSet.State.DRAFT, RuleSet.State.PENDING], shadow=False
            ).update(shadow=True, shadow_by=by, shadow_at=now)
    except IntegrityError:
        running = RuleSet.objects.filter(shadow=True).first()
        label = running.label if running else "another version"
        raise Conflict(f"{label} is running in shadow; stop it first.", code="shadow_running") from None
    if not started:
        raise Conflict(f"{ruleset.label} cannot start a shadow run as it stands.", code="ruleset_state")
    ruleset.shadow, ruleset.shadow_by, ruleset.shadow_at = True, by, now
    audit_event("fraud_guard", "ruleset_shadow_started", version=ruleset.label, by=by)
    return ruleset


def ruleset_shadow_stop(*, ruleset: RuleSet, by: str) -> RuleSet:
    if not RuleSet.objects.filter(pk=ruleset.pk, shadow=True).update(shadow=False):
        raise Conflict(f"{ruleset.label} is not running in shadow.", code="ruleset_state")
    ruleset.shadow = False
    audit_event("fraud_guard", "ruleset_shadow_stopped", version=ruleset.label, by=by)
    return ruleset


def ruleset_backtest_done(ruleset: RuleSet) -> BacktestRun | None:
    """The latest finished backtest of this version, if any."""
    return ruleset.backtests.filter(state=BacktestRun.State.DONE).order_by("-finished_at", "-id").first()


ACTIVATABLE = (RuleSet.State.DRAFT, RuleSet.State.RETIRED)


def ruleset_activate(*, ruleset: RuleSet, by: str) -> RuleSet:
    """Put a version in force, or with ``GUARD_RULESET_APPROVAL`` ask another person to (``pending``).

    Needs a finished backtest of the version: nobody activates rules without having seen what they would do.
    """
    if ruleset_backtest_done(ruleset) is None:
        raise Conflict(f"Run a backtest of {ruleset.label} and read it before activating it.", code="backtest_required")
    if settings.GUARD_RULESET_APPROVAL:
        now = timezone.now()
        if not RuleSet.objects.filter(pk=ruleset.pk, state__in=ACTIVATABLE).update(
            state=RuleSet.State.PENDING, requested_by=by, requested_at=now
        ):
            raise Conflict(f"{ruleset.label} cannot be put forward as it stands.", code="ruleset_state")
        ruleset.state, ruleset.requested_by, ruleset.requested_at = RuleSet.State.PENDING, by, now
        audit_event("fraud_guard", "ruleset_activation_requested", version=ruleset.label, by=by)
        return ruleset
    return _activate(ruleset=ruleset, expected=ACTIVATABLE, by=by, approved_by=NOBODY)


def ruleset_approve(*, ruleset: RuleSet, by: str) -> RuleSet:
    """Approve a pending activation: anyone but the person who asked for it."""
    if ruleset.state != RuleSet.State.PENDING:
        raise Conflict(f"{ruleset.label} is not awaiting approval.", code="ruleset_state")
    if by == ruleset.requested_by:
        raise Conflict("Another person has to approve an activation you asked for.", code="second_person_required")
    return _activate(ruleset=ruleset, expected=(RuleSet.State.PENDING,), by=ruleset.requested_by, approved_by=by)


def ruleset_withdraw(*, ruleset: RuleSet, by: str) -> RuleSet:
    """Take a pending activation back: the version returns to draft (frozen if it ran in shadow)."""
    if not RuleSet.objects.filter(pk=ruleset.pk, state=RuleSet.State.PENDING).update(
        state=RuleSet.State.DRAFT, requested_by=NOBODY, requested_at=None
    ):
        raise Conflict(f"{ruleset.label} is not awaiting approval.", code="ruleset_state")
    ruleset.state, ruleset.requested_by, ruleset.requested_at = RuleSet.State.DRAFT, NOBODY, None
    audit_event("fraud_guard", "ruleset_withdrawn", version=ruleset.label, by=by)
    return ruleset


def _activate(*, ruleset: RuleSet, expected, by: str, approved_by: str) -> RuleSet:
    now = timezone.now()
    with transaction.atomic():
        previous = RuleSet.objects.select_for_update().filter(state=RuleSet.State.ACTIVE).exclude(pk=ruleset.pk)
        retired = [old.label for old in previous]
        previous.update(state=RuleSet.State.RETIRED, retired_at=now)
        changes = {
            "state": RuleSet.State.ACTIVE,
            "shadow": False,
            "activated_by": by,
            "activated_at": now,
            "approved_by": approved_by,
            "retired_at": None,
        }
        if not RuleSet.objects.filter(pk=ruleset.pk, state__in=expected).update(**changes):
            raise Conflict(f"{ruleset.label} cannot be activated as it stands.", code="ruleset_state")
    for name, value in changes.items():
        setattr(ruleset, name, value)
    audit_event(
        "fraud_guard",
        "ruleset_activated",
        version=ruleset.label,
        by=by,
        approved_by=approved_by or None,
        retired=retired[0] if retired else "v1 (GUARD_* settings)",
    )
    return ruleset


# --- Backtest runs (the admin's and the API's) ----------------------------------------------------------------


def backtest_job_create(*, rules: RuleConfig, since: datetime, by: str, ruleset: RuleSet | None = None) -> BacktestRun:
    """Ask for a backtest of ``rules`` on the checks since ``since``, beside the rules in force.

    Up to ``GUARD_BACKTEST_INLINE_CHECKS`` stored checks it runs now and comes back done (or
    failed); a larger history is queued as a task (``fraud.tasks.backtest_run``) to poll.
    """
    current = current_config()
    checks = FraudCheck.objects.filter(created_at__gte=since).count()
    job = BacktestRun.objects.create(
        ruleset=ruleset,
        rules=rules.as_dict(),
        current=current.as_dict(),
        current_version=current.version,
        since=since,
        checks=checks,
        requested_by=by,
    )
    audit_event("fraud_guard", "backtest_requested", job_id=job.job_id, version=rules.version, checks=checks, by=by)
    if checks <= settings.GUARD_BACKTEST_INLINE_CHECKS:
        backtest_job_run(job.pk)
        job.refresh_from_db()
    else:
        transaction.on_commit(lambda: async_task("fraud.tasks.backtest_run", job.pk), robust=True)
    return job


def backtest_job_run(pk: int) -> None:
    """Run a queued backtest once (a second worker given the same job does nothing) and store its report."""
    if not BacktestRun.objects.filter(pk=pk, state=BacktestRun.State.QUEUED).update(
        state=BacktestRun.State.RUNNING, started_at=timezone.now()
    ):
        return
    job = BacktestRun.objects.select_related("ruleset").get(pk=pk)
    label = job.ruleset.label if job.ruleset else ""
    config = RuleConfig.from_dict(job.rules, label=label)
    # The rules in force are named as they were when asked for: the settings' digest depends on how their amounts
    # are written ("10000" in the environment, "10000.00" once stored as JSON), so it is not computed again.
    current = RuleConfig.from_dict(job.current, label=job.current_version)
    try:
        report = fraud_backtest(since=job.since, config=config, current=current)
    except Exception as exc:  # kept on the job for whoever polls it; the task itself succeeds
        logger.exception("backtest %s failed", job.job_id)
        BacktestRun.objects.filter(pk=pk).update(
            state=BacktestRun.State.FAILED, error=f"{type(exc).__name__}: {exc}"[:500], finished_at=timezone.now()
        )
        audit_event("fraud_guard", "backtest_failed", job_id=job.job_id, error=type(exc).__name__)
        return
    BacktestRun.objects.filter(pk=pk).update(
        state=BacktestRun.State.DONE,
        report=report_dict(report, since=job.since, config=config, current=current),
        finished_at=timezone.now(),
    )
    audit_event("fraud_guard", "backtest_done", job_id=job.job_id, checks=report.total, changed=report.changed)


# --- Shadow agreement (the admin's) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Agreement:
    """How a version's shadow decisions compared with the live ones, over every check that evaluated it."""

    evaluated: int
    differed: int
    pairs: list  # (live decision, shadow decision, checks), most checks first
    examples: list  # the latest checks it would have decided differently


def ruleset_agreement(ruleset: RuleSet, *, examples: int = 10) -> Agreement:
    """Counts by (live, shadow) decision pair in one grouped query (index ``fraud_shadow``), and the latest
    disagreements."""
    rows = (
        FraudCheck.objects.filter(shadow_version=ruleset.label)
        .values_list("decision", "shadow_decision")
        .annotate(checks=Count("id"))
        .order_by()
    )
    pairs = sorted(rows, key=lambda row: (-row[2], row[0], row[1]))
    differed = sum(checks for live, shadow, checks in pairs if live != shadow)
    latest = []
    if differed:
        latest = list(
            FraudCheck.objects.filter(shadow_version=ruleset.label)
            .exclude(shadow_decision=F("decision"))
            .order_by("-created_at", "-id")[:examples]
        )
    return Agreement(sum(row[2] for row in pairs), differed, pairs, latest)


# --- Versions and backtests as the API reads them ------------------------------------------------------------


@dataclass(frozen=True)
class SettingsVersion:
    """Version 1, the ``GUARD_*`` settings, with a stored ``RuleSet``'s attributes (all empty that it has not)."""

    config: RuleConfig
    state: str  # "active" while no stored version is, else "fallback"
    version: int = ENVIRONMENT
    source: str = "settings"
    shadow: bool = False
    note: str = "The GUARD_* settings: in force while no stored version is active."
    based_on: str = ""
    created_by: str = ""
    created_at: datetime | None = None
    shadow_by: str = ""
    shadow_at: datetime | None = None
    requested_by: str = ""
    requested_at: datetime | None = None
    approved_by: str = ""
    activated_by: str = ""
    activated_at: datetime | None = None
    retired_at: datetime | None = None

    @property
    def label(self) -> str:
        return self.config.version  # the digest version ("v1-…") stamped on the checks it decides


def settings_version() -> SettingsVersion:
    active = RuleSet.objects.filter(state=RuleSet.State.ACTIVE).exists()
    return SettingsVersion(config=RuleConfig.from_settings(), state="fallback" if active else "active")


class RuleSetVersions(Sequence):
    """Every version, newest first, version 1 (the settings) last; sliced lazily, so a page reads one page of rows."""

    def __init__(self):
        self.stored = RuleSet.objects.order_by("-version")

    def __len__(self) -> int:
        return self.stored.count() + 1

    def __getitem__(self, index):
        if not isinstance(index, slice):
            return self[index : index + 1][0]
        start, stop, _ = index.indices(len(self))
        rows = list(self.stored[start:stop]) if start < stop else []
        if stop == len(self) and start < stop:
            rows.append(settings_version())
        return rows


def ruleset_version_get(*, version: int) -> RuleSet | SettingsVersion:
    """A stored version, or version 1 (the settings); ``NotFound`` for any other number."""
    if version == ENVIRONMENT:
        return settings_version()
    if not FIRST_STORED <= version <= MAX_VERSION:
        raise NotFound(f"No rule set has version {version}.", code="not_found")
    return ruleset_get(version=version)


def backtest_proposal(*, version: int | None = None, changes: dict | None = None) -> tuple[RuleConfig, RuleSet | None]:
    """The rules a backtest proposes: a version's (1: the settings), or those in force with ``changes`` made.

    ``changes`` are validated values of ``RULE_FIELDS``. ``NotFound`` for a version that does not exist.
    """
    if version is not None:
        found = ruleset_version_get(version=version)
        return (found.config, None) if isinstance(found, SettingsVersion) else (ruleset_config(found), found)
    return RuleConfig.from_dict({**current_config().as_dict(), **(changes or {})}), None


def backtest_job_get(*, job_id: str) -> BacktestRun:
    try:
        return BacktestRun.objects.select_related("ruleset").get(job_id=job_id)
    except BacktestRun.DoesNotExist:
        raise NotFound("No backtest has this job id.", code="not_found") from None
