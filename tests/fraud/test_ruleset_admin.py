"""The rule sets' admin pages (fraud.admin_rulesets): drafting, editing, the buttons and who may press them."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from fraud import rulesets
from fraud.models import BacktestRun, FraudCheck, RuleSet
from fraud.rulesets import backtest_job_create, ruleset_draft, ruleset_shadow_start
from fraud.services import fraud_check_create
from tests.factories import make_user

pytestmark = pytest.mark.django_db

LIST = "/admin/fraud/ruleset/"
ADD = LIST + "add/"
VIEW = "fraud.view_ruleset"
EDITOR = [VIEW, "fraud.add_ruleset", "fraud.change_ruleset", "fraud.delete_ruleset"]
ACTIVATOR = [*EDITOR, "fraud.activate_ruleset"]
EVERYTHING = [*ACTIVATOR, "fraud.approve_ruleset", "fraud.view_fraudcheck", "fraud.view_backtestrun"]


def page(ruleset, button: str = "change") -> str:
    return f"{LIST}{ruleset.pk}/{button}/"


def login(username: str, permissions) -> Client:
    client = Client()
    client.force_login(make_user(username, permissions=permissions))
    return client


def form_values(**changes) -> dict:
    values = {
        "note": "Tighter velocity",
        **rulesets.current_config().as_dict(),
        "block_prepaid": "",
    }
    values["email_allow"] = "\n".join(values["email_allow"])
    values["dot_domains"] = "\n".join(values["dot_domains"])
    return {**values, **changes}


def backtested(ruleset):
    backtest_job_create(
        rules=rulesets.ruleset_config(ruleset), since=timezone.now() - timedelta(days=1), by="user:ann", ruleset=ruleset
    )
    return ruleset


def test_the_list_says_version_1_is_in_force_on_a_fresh_install_and_shows_its_values(settings):
    settings.GUARD_MAX_PER_HOUR = 7
    text = login("ann", [VIEW]).get(LIST).content.decode()
    assert "In force: version 1, the GUARD_* settings" in text and "no stored version is active" in text
    assert "Checks per card per hour</dt><dd>7</dd>" in text
    assert "No version runs in shadow." in text


def test_the_add_form_starts_from_the_rules_in_force_and_saving_drafts_a_version(settings):
    settings.GUARD_MAX_PER_HOUR = 7
    client = login("ann", EDITOR)
    form = client.get(ADD).content.decode()
    assert 'name="max_per_hour" value="7"' in form
    response = client.post(ADD, form_values(max_per_hour="3", email_allow="VIP@Example.com\nboss@example.com"))
    assert response.status_code == 302
    draft = RuleSet.objects.get()
    assert (draft.label, draft.state, draft.max_per_hour, draft.created_by) == ("v2", "draft", 3, "user:ann")
    assert draft.email_allow == ["boss@example.com", "vip@example.com"]
    assert draft.based_on == rulesets.current_config().version  # the settings' "v1-…"


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("note", "", "This field is required."),
        ("note", "two\nlines", "control characters"),
        ("max_per_hour", "0", "greater than or equal to 1"),
        ("max_per_hour", "99999999999999999999", "less than or equal to 2147483647"),
        ("max_amount_day", "-1", "greater than or equal to 0"),
        ("max_amount_day", "1e30", "no more than 14 digits in total"),
        ("max_per_ip_hour", "-3", "greater than or equal to 0"),
        ("email_allow", "not-an-email", "is not an email address"),
        ("dot_domains", "gmail..com", "is not a domain name"),
    ],
)
def test_bad_values_are_refused_with_the_field_and_nothing_is_written(field, value, says):
    response = login("ann", EDITOR).post(ADD, form_values(**{field: value}))
    assert response.status_code == 200
    assert says in response.content.decode()
    assert field in response.context["adminform"].form.errors
    assert not RuleSet.objects.exists()


def test_copy_into_a_new_draft_prefills_the_version_and_records_what_it_was_based_on():
    source = ruleset_draft(note="source", by="user:bob", max_per_hour=9)
    client = login("ann", EDITOR)
    assert 'name="max_per_hour" value="9"' in client.get(f"{ADD}?copy={source.version}").content.decode()
    client.post(f"{ADD}?copy={source.version}", form_values(max_per_hour="9", note="copy"))
    copy = RuleSet.objects.get(note="copy")
    assert (copy.based_on, copy.max_per_hour) == ("v2", 9)
    assert client.get(f"{ADD}?copy=999").status_code == 302  # no such version: an error message, not a 500


def test_an_editable_draft_is_changed_from_its_page_and_shows_where_it_differs_from_the_rules_in_force():
    draft = ruleset_draft(note="start", by="user:ann")
    client = login("ann", EDITOR)
    client.post(page(draft), form_values(note="stricter", max_per_hour="2"))
    draft.refresh_from_db()
    assert (draft.note, draft.max_per_hour) == ("stricter", 2)
    text = client.get(page(draft)).content.decode()
    assert (
        '<tr class="rs-differs"><th scope="row">Checks per card per hour <span class="rs-mark">differs</span>' in text
    )
    assert text.count("rs-mark") == 1


def test_a_frozen_version_shows_its_values_read_only_and_refuses_an_edit():
    draft = ruleset_shadow_start(ruleset=ruleset_draft(note="frozen", by="user:ann"), by="user:ann")
    client = login("ann", EDITOR)
    text = client.get(page(draft)).content.decode()
    assert 'name="max_per_hour"' not in text and "Checks per card per hour" in text
    assert client.post(page(draft), form_values(max_per_hour="1")).status_code == 403
    draft.refresh_from_db()
    assert draft.max_per_hour == 5


def test_an_edit_racing_a_shadow_start_is_an_error_message_not_a_500(monkeypatch):
    draft = ruleset_draft(note="race", by="user:ann")
    client = login("ann", EDITOR)
    real_update = rulesets.ruleset_update

    def shadow_first(**kwargs):
        RuleSet.objects.filter(pk=draft.pk).update(shadow=True, shadow_at=timezone.now())
        return real_update(**kwargs)

    monkeypatch.setattr(rulesets, "ruleset_update", shadow_first)
    response = client.post(page(draft), form_values(max_per_hour="1"), follow=True)
    assert response.status_code == 200
    assert "can no longer change" in response.content.decode()
    draft.refresh_from_db()
    assert draft.max_per_hour == 5


def test_activate_is_offered_once_a_backtest_has_run_from_the_page_and_then_decides_the_next_check(settings):
    settings.GUARD_REVIEW_AMOUNT = Decimal("5000")
    fraud_check_create(email="old@example.com", amount=Decimal("150.00"))
    draft = ruleset_draft(note="review above 100", by="user:ann", review_amount=Decimal("100"))
    client = login("ann", EVERYTHING)
    text = client.get(page(draft)).content.decode()
    assert "Activation needs a finished backtest" in text and "Activate v2" not in text

    response = client.post(page(draft, "backtest"), {"days": "7"}, follow=True)
    assert "1 checks replayed, 1 decision would change" in response.content.decode()
    text = response.content.decode()
    assert "Activate v2" in text
    assert '<td class="rs-num rs-changed">1</td>' in text  # allow -> review in the before × after table
    check_url = f"/admin/fraud/fraudcheck/{FraudCheck.objects.get().pk}/change/"
    assert f'<a href="{check_url}">' in text  # the example links to the check

    response = client.post(page(draft, "activate"), follow=True)
    assert "Now in force: v2." in response.content.decode()
    draft.refresh_from_db()
    assert (draft.state, draft.activated_by) == ("active", "user:ann")
    assert fraud_check_create(email="new@example.com", amount=Decimal("150.00")).decision == "review"
    assert "In force: <a" in client.get(LIST).content.decode()


def test_a_backtest_with_another_history_length_is_refused():
    draft = ruleset_draft(note="d", by="user:ann")
    response = login("ann", EDITOR).post(page(draft, "backtest"), {"days": "3650"}, follow=True)
    assert "Choose the history to replay" in response.content.decode()
    assert not BacktestRun.objects.exists()


def test_activating_without_a_backtest_by_a_forged_post_is_an_error_message_not_a_500():
    draft = ruleset_draft(note="d", by="user:ann")
    response = login("ann", ACTIVATOR).post(page(draft, "activate"), follow=True)
    assert response.status_code == 200
    assert "Run a backtest of v2" in response.content.decode()
    draft.refresh_from_db()
    assert draft.state == "draft"


def test_a_queued_backtest_shows_as_such_and_the_page_refreshes_itself(settings):
    settings.GUARD_BACKTEST_INLINE_CHECKS = 0
    fraud_check_create(email="old@example.com", amount=Decimal("150.00"))
    draft = ruleset_draft(note="d", by="user:ann")
    client = login("ann", EDITOR)
    response = client.post(page(draft, "backtest"), {"days": "30"}, follow=True)
    text = response.content.decode()
    assert "queued" in text and '<meta http-equiv="refresh" content="5">' in text
    BacktestRun.objects.update(state=BacktestRun.State.FAILED, error="OperationalError: gone")
    text = client.get(page(draft)).content.decode()
    assert "OperationalError: gone" in text and 'http-equiv="refresh"' not in text


def test_with_approval_on_one_person_asks_another_approves_and_the_requester_cannot(settings):
    settings.GUARD_RULESET_APPROVAL = True
    draft = backtested(ruleset_draft(note="d", by="user:ann"))
    ann, bob = login("ann", EVERYTHING), login("bob", EVERYTHING)
    assert "Ask for activation" in ann.get(page(draft)).content.decode()
    ann.post(page(draft, "activate"))
    draft.refresh_from_db()
    assert (draft.state, draft.requested_by) == ("pending", "user:ann")

    text = ann.get(page(draft)).content.decode()
    assert "You asked for this activation: another person has to approve it." in text
    assert f'action="{page(draft, "approve")}"' not in text
    response = ann.post(page(draft, "approve"), follow=True)  # forged: the service refuses, as a message
    assert "Another person has to approve" in response.content.decode()
    draft.refresh_from_db()
    assert draft.state == "pending"

    bob.post(page(draft, "approve"))
    draft.refresh_from_db()
    assert (draft.state, draft.activated_by, draft.approved_by) == ("active", "user:ann", "user:bob")
    assert "approved by bob" in bob.get(LIST).content.decode()


def test_a_pending_request_is_withdrawn_back_to_draft(settings):
    settings.GUARD_RULESET_APPROVAL = True
    draft = backtested(ruleset_draft(note="d", by="user:ann"))
    ann = login("ann", ACTIVATOR)
    ann.post(page(draft, "activate"))
    ann.post(page(draft, "withdraw"))
    draft.refresh_from_db()
    assert (draft.state, draft.requested_by) == ("draft", "")


@pytest.mark.parametrize(
    ("button", "needs"),
    [
        ("backtest", "fraud.change_ruleset"),
        ("shadow-start", "fraud.change_ruleset"),
        ("shadow-stop", "fraud.change_ruleset"),
        ("activate", "fraud.activate_ruleset"),
        ("approve", "fraud.approve_ruleset"),
        ("withdraw", "fraud.activate_ruleset"),
    ],
)
def test_each_button_is_403_for_a_user_without_its_permission_even_when_forged(settings, button, needs):
    settings.GUARD_RULESET_APPROVAL = True
    draft = backtested(ruleset_draft(note="d", by="user:ann"))
    if button in ("approve", "withdraw"):
        rulesets.ruleset_activate(ruleset=draft, by="user:bob")
    if button == "shadow-stop":
        ruleset_shadow_start(ruleset=draft, by="user:bob")
    before = RuleSet.objects.values().get(pk=draft.pk)
    runs = BacktestRun.objects.count()
    lacking = [name for name in EVERYTHING if name != needs]
    response = login("eve", lacking).post(page(draft, button), {"days": "7"})
    assert response.status_code == 403
    assert RuleSet.objects.values().get(pk=draft.pk) == before
    assert BacktestRun.objects.count() == runs
    # The view-only user sees no button to press either.
    text = login("viewer", [VIEW]).get(page(draft)).content.decode()
    assert f"/{button}/" not in text


def test_a_button_refuses_get():
    draft = ruleset_draft(note="d", by="user:ann")
    assert login("ann", EVERYTHING).get(page(draft, "shadow-start")).status_code == 405
    draft.refresh_from_db()
    assert not draft.shadow


def test_the_buttons_are_csrf_protected():
    draft = ruleset_draft(note="d", by="user:ann")
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("ann", permissions=EVERYTHING))
    assert client.post(page(draft, "shadow-start")).status_code == 403
    draft.refresh_from_db()
    assert not draft.shadow


def test_shadow_agreement_counts_the_checks_by_decision_pair_and_links_the_disagreements(settings):
    settings.GUARD_REVIEW_AMOUNT = Decimal("5000")
    draft = ruleset_draft(note="review above 100", by="user:ann", review_amount=Decimal("100"))
    client = login("ann", EVERYTHING)
    client.post(page(draft, "shadow-start"))
    draft.refresh_from_db()
    assert draft.shadow
    small = [fraud_check_create(email=f"s{n}@example.com", amount=Decimal("50.00")) for n in range(3)]
    big = [fraud_check_create(email=f"b{n}@example.com", amount=Decimal("150.00")) for n in range(2)]
    assert {c.shadow_decision for c in small} == {"allow"} and {c.shadow_decision for c in big} == {"review"}
    client.post(page(draft, "shadow-stop"))
    fraud_check_create(email="after@example.com", amount=Decimal("150.00"))  # not evaluated: the shadow stopped

    agreement = rulesets.ruleset_agreement(draft)
    assert (agreement.evaluated, agreement.differed) == (5, 2)
    assert agreement.pairs == [("allow", "allow", 3), ("allow", "review", 2)]
    assert [c.check_id for c in agreement.examples] == [big[1].check_id, big[0].check_id]

    text = client.get(page(draft)).content.decode()
    assert "5 live checks evaluated v2; it would have decided <strong>2</strong> differently." in text
    assert f'<a href="/admin/fraud/fraudcheck/{big[1].pk}/change/">{big[1].check_id}</a>' in text
    check_page = client.get(f"/admin/fraud/fraudcheck/{big[0].pk}/change/").content.decode()
    assert "v2 would have decided" in check_page


def test_starting_a_second_shadow_is_an_error_message_not_a_500():
    first = ruleset_shadow_start(ruleset=ruleset_draft(note="a", by="user:ann"), by="user:ann")
    second = ruleset_draft(note="b", by="user:ann")
    response = login("ann", EDITOR).post(page(second, "shadow-start"), follow=True)
    assert response.status_code == 200
    assert "Not done: v2 is running in shadow; stop it first." in response.content.decode()
    assert first.label == "v2"


def test_only_an_editable_draft_is_deleted():
    frozen = ruleset_shadow_start(ruleset=ruleset_draft(note="a", by="user:ann"), by="user:ann")
    draft = backtested(ruleset_draft(note="b", by="user:ann"))
    client = login("ann", EDITOR)
    assert client.post(page(frozen, "delete"), {"post": "yes"}).status_code == 403
    assert client.post(page(draft, "delete"), {"post": "yes"}).status_code == 302
    assert list(RuleSet.objects.values_list("note", flat=True)) == ["a"]
    assert not BacktestRun.objects.exists()


def test_backtest_runs_are_read_only_records_with_their_report():
    draft = backtested(ruleset_draft(note="b", by="user:ann"))
    job = BacktestRun.objects.get()
    client = login("ann", ["fraud.view_backtestrun", "fraud.change_backtestrun", "fraud.delete_backtestrun"])
    text = client.get(f"/admin/fraud/backtestrun/{job.pk}/change/").content.decode()
    assert job.job_id in text and "record-json" in text and 'name="_save"' not in text
    assert client.post(f"/admin/fraud/backtestrun/{job.pk}/delete/", {"post": "yes"}).status_code == 403
    assert draft.label in client.get("/admin/fraud/backtestrun/").content.decode()
