"""Issue #15, items 3 and 4: rule sets as data (draft, activation, second-person approval) and shadow runs."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from echopilot.exceptions import Conflict
from fraud import rulesets
from fraud.models import BacktestRun, FraudCheck, RuleSet
from fraud.rules import RuleConfig
from fraud.rulesets import (
    backtest_job_create,
    ruleset_activate,
    ruleset_approve,
    ruleset_draft,
    ruleset_shadow_start,
    ruleset_shadow_stop,
    ruleset_update,
    ruleset_withdraw,
)
from fraud.services import fraud_check_create
from tests.fixtures.database import at_once

pytestmark = pytest.mark.django_db


def check(**fields):
    return fraud_check_create(**{"email": "buyer@example.com", "amount": Decimal("150.00"), **fields})


def backtested(ruleset):
    """A version with a finished backtest (activation needs one)."""
    backtest_job_create(rules=rulesets.ruleset_config(ruleset), since=timezone.now() - timedelta(days=1), by="ann",
                        ruleset=ruleset)  # fmt: skip
    return ruleset


def test_a_fresh_install_decides_by_the_settings_as_version_1(settings):
    settings.GUARD_REVIEW_AMOUNT = Decimal("100")
    result = check()
    assert (result.decision, result.reason) == ("review", "high_amount_requires_review")
    assert result.ruleset_version == RuleConfig.from_settings().version
    assert result.ruleset_version.startswith("v1-")
    assert (result.shadow_version, result.shadow_decision) == ("", "")


def test_a_draft_starts_from_the_rules_in_force_and_changes_nothing_until_activated(settings):
    settings.GUARD_MAX_PER_HOUR = 7
    draft = ruleset_draft(note="Review above 100", by="ann", review_amount=Decimal("100"))
    assert (draft.version, draft.label, draft.state, draft.max_per_hour) == (2, "v2", "draft", 7)
    assert draft.based_on == RuleConfig.from_settings().version
    assert check().decision == "allow"
    assert ruleset_draft(note="another", by="bob").version == 3


def test_activation_needs_a_backtest_then_decides_the_next_check_and_records_who_and_when(
    read_audit, django_capture_on_commit_callbacks
):
    draft = ruleset_draft(note="Review above 100", by="ann", review_amount=Decimal("100"))
    with pytest.raises(Conflict) as refused:
        ruleset_activate(ruleset=draft, by="ann")
    assert refused.value.code == "backtest_required"
    assert check().decision == "allow"

    with django_capture_on_commit_callbacks(execute=True):
        ruleset_activate(ruleset=backtested(draft), by="ann")
    draft.refresh_from_db()
    assert (draft.state, draft.activated_by, draft.approved_by) == ("active", "ann", "")
    assert timezone.now() - draft.activated_at < timedelta(minutes=1)
    result = check()
    assert (result.decision, result.ruleset_version) == ("review", "v2")
    assert [line["version"] for line in read_audit("fraud_guard") if line["event"] == "ruleset_activated"] == ["v2"]


def test_activating_another_version_retires_the_one_before():
    first = ruleset_activate(ruleset=backtested(ruleset_draft(note="a", by="ann")), by="ann")
    second = ruleset_activate(ruleset=backtested(ruleset_draft(note="b", by="ann", max_per_hour=9)), by="ann")
    first.refresh_from_db()
    assert (first.state, second.state) == ("retired", "active")
    assert first.retired_at is not None
    assert check().ruleset_version == "v3"
    ruleset_activate(ruleset=first, by="bob")  # a retired version comes back as it was
    assert check().ruleset_version == "v2"
    assert RuleSet.objects.filter(state="active").count() == 1


def test_a_version_activated_elsewhere_decides_this_nodes_next_check():
    """Another node's activation is a committed row; this process learns of it from its next check's query."""
    assert check().decision == "allow"  # this process now believes the settings are in force
    draft = ruleset_draft(note="Review above 100", by="ann", review_amount=Decimal("100"))
    RuleSet.objects.filter(pk=draft.pk).update(state="active")  # as the other node's transaction left it
    assert (check().decision, check(email="other@example.com").ruleset_version) == ("review", "v2")
    RuleSet.objects.filter(pk=draft.pk).update(state="retired")
    assert check(email="third@example.com").ruleset_version.startswith("v1-")


def test_rules_that_key_emails_differently_take_effect_on_the_same_check():
    assert check(email="j.doe@gmail.com").email_key == "jdoe@gmail.com"
    draft = ruleset_draft(note="no dot domains", by="ann", dot_domains=[])
    RuleSet.objects.filter(pk=draft.pk).update(state="active")
    result = check(email="j.doe@gmail.com")
    assert (result.email_key, result.ruleset_version) == ("j.doe@gmail.com", "v2")


def test_a_second_person_approves_when_the_setting_asks_for_one(settings):
    settings.GUARD_RULESET_APPROVAL = True
    draft = backtested(ruleset_draft(note="Review above 100", by="ann", review_amount=Decimal("100")))
    ruleset_activate(ruleset=draft, by="ann")
    assert (draft.state, draft.requested_by) == ("pending", "ann")
    assert check().decision == "allow"  # asked for is not in force
    with pytest.raises(Conflict) as refused:
        ruleset_approve(ruleset=draft, by="ann")
    assert refused.value.code == "second_person_required"
    ruleset_approve(ruleset=draft, by="bob")
    draft.refresh_from_db()
    assert (draft.state, draft.activated_by, draft.approved_by) == ("active", "ann", "bob")
    assert check().decision == "review"


def test_a_pending_activation_can_be_withdrawn(settings):
    settings.GUARD_RULESET_APPROVAL = True
    draft = backtested(ruleset_draft(note="x", by="ann"))
    ruleset_activate(ruleset=draft, by="ann")
    ruleset_withdraw(ruleset=draft, by="ann")
    draft.refresh_from_db()
    assert draft.state == "draft"
    with pytest.raises(Conflict):
        ruleset_approve(ruleset=draft, by="bob")


@pytest.mark.django_db(transaction=True)
def test_of_two_approvals_at_once_one_activates(settings):
    settings.GUARD_RULESET_APPROVAL = True
    draft = backtested(ruleset_draft(note="x", by="ann"))
    ruleset_activate(ruleset=draft, by="ann")
    results = at_once(2, lambda n: ruleset_approve(ruleset=RuleSet.objects.get(pk=draft.pk), by=f"approver{n}"))
    assert sorted(type(result).__name__ for result in results) == ["Conflict", "RuleSet"]
    draft.refresh_from_db()
    assert draft.approved_by in ("approver0", "approver1")


@pytest.mark.django_db(transaction=True)
def test_of_two_versions_activated_at_once_exactly_one_is_in_force():
    drafts = [backtested(ruleset_draft(note=str(n), by="ann")) for n in range(2)]
    at_once(2, lambda n: ruleset_activate(ruleset=RuleSet.objects.get(pk=drafts[n].pk), by="ann"))
    assert RuleSet.objects.filter(state="active").count() == 1


def test_only_a_draft_that_never_ran_in_shadow_changes():
    draft = ruleset_draft(note="x", by="ann")
    ruleset_update(ruleset=draft, by="ann", max_per_hour=3, note="three")
    draft.refresh_from_db()
    assert (draft.max_per_hour, draft.note) == (3, "three")
    ruleset_shadow_start(ruleset=draft, by="ann")
    ruleset_shadow_stop(ruleset=draft, by="ann")
    with pytest.raises(Conflict) as refused:
        ruleset_update(ruleset=draft, by="ann", max_per_hour=4)
    assert refused.value.code == "ruleset_frozen"
    active = ruleset_activate(ruleset=backtested(ruleset_draft(note="y", by="ann")), by="ann")
    with pytest.raises(Conflict):
        ruleset_update(ruleset=active, by="ann", max_per_hour=4)
    assert RuleSet.objects.get(pk=active.pk).max_per_hour == 5


def test_a_shadow_records_what_it_would_decide_and_never_changes_the_decision(
    read_audit, django_capture_on_commit_callbacks
):
    draft = ruleset_shadow_start(
        ruleset=ruleset_draft(note="Review above 100", by="ann", review_amount=Decimal("100")), by="ann"
    )
    with django_capture_on_commit_callbacks(execute=True):
        result = check()
    assert (result.decision, result.reason) == ("allow", "all_checks_passed")
    stored = FraudCheck.objects.get(pk=result.pk)
    assert (stored.shadow_version, stored.shadow_decision, stored.shadow_reason) == (
        "v2",
        "review",
        "high_amount_requires_review",
    )
    assert not hasattr(stored, "review") or stored.review is None  # a shadow review opens nothing
    line = [line for line in read_audit("fraud_guard") if line["event"] == "fraud_check"][-1]
    assert line["shadow"] == {"version": "v2", "decision": "review", "reason": "high_amount_requires_review"}
    ruleset_shadow_stop(ruleset=draft, by="ann")
    assert check(email="later@example.com").shadow_version == ""


def test_a_shadow_is_counted_for_signals_the_rules_in_force_leave_off():
    ruleset_shadow_start(ruleset=ruleset_draft(note="IPs", by="ann", max_per_ip_hour=2), by="ann")
    results = [check(email=f"c{n}@example.com", card_fingerprint=f"fp{n}", ip="203.0.113.9") for n in range(3)]
    assert [result.decision for result in results] == ["allow"] * 3
    assert [result.shadow_reason for result in results][-1] == "ip_velocity_exceeded_2_per_hour"


def test_one_version_runs_in_shadow_at_a_time():
    ruleset_shadow_start(ruleset=ruleset_draft(note="a", by="ann"), by="ann")
    with pytest.raises(Conflict) as refused:
        ruleset_shadow_start(ruleset=ruleset_draft(note="b", by="ann"), by="ann")
    assert (refused.value.code, refused.value.message) == ("shadow_running", "v2 is running in shadow; stop it first.")


def test_activating_a_version_in_shadow_ends_its_shadow_run():
    draft = ruleset_shadow_start(ruleset=backtested(ruleset_draft(note="a", by="ann")), by="ann")
    ruleset_activate(ruleset=draft, by="ann")
    assert RuleSet.objects.filter(shadow=True).count() == 0
    assert check().shadow_version == ""


def test_a_small_backtest_is_done_at_once_and_a_large_one_queued(settings, django_capture_on_commit_callbacks):
    check()
    proposed = RuleConfig.from_settings(review_amount=Decimal("100"))
    done = backtest_job_create(rules=proposed, since=timezone.now() - timedelta(days=1), by="ann")
    assert (done.state, done.checks, done.report["changed"]) == ("done", 1, 1)
    assert done.report["table"] == {"allow->review": 1}
    assert done.report["ruleset"]["current"] == RuleConfig.from_settings().version  # named as the checks name it
    settings.GUARD_BACKTEST_INLINE_CHECKS = 0
    with django_capture_on_commit_callbacks(execute=False) as queued_callbacks:
        queued = backtest_job_create(rules=proposed, since=timezone.now() - timedelta(days=1), by="ann")
    assert queued.state == "queued"
    for callback in queued_callbacks:
        callback()  # the task queue runs tasks synchronously in tests
    queued.refresh_from_db()
    assert (queued.state, queued.report["changed"]) == ("done", 1)


def test_a_failed_backtest_keeps_its_error(monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(rulesets, "fraud_backtest", broken)
    job = backtest_job_create(rules=RuleConfig.from_settings(), since=timezone.now(), by="ann")
    assert (job.state, job.error) == ("failed", "RuntimeError: disk full")
    assert BacktestRun.objects.get(pk=job.pk).finished_at is not None
