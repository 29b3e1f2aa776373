"""The rule set pages in real headless Chromium: draft → backtest → activate by clicking; they fit a phone.

Screenshots: test-artifacts/admin/rulesets-*.png.
"""

import re
from decimal import Decimal

import pytest

from fraud.models import RuleSet
from fraud.rulesets import ruleset_draft, ruleset_shadow_start
from fraud.services import fraud_check_create
from tests.factories import make_user
from tests.fixtures.browser import pans, shot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

LIST = "/admin/fraud/ruleset/"
OPERATOR = [
    "fraud.view_ruleset",
    "fraud.add_ruleset",
    "fraud.change_ruleset",
    "fraud.activate_ruleset",
    "fraud.approve_ruleset",
    "fraud.view_fraudcheck",
    "fraud.view_backtestrun",
]


def small_targets(page, selector: str) -> list[str]:
    """The visible buttons and links under ``selector`` shorter than 44 px (empty: all touch-sized)."""
    return page.eval_on_selector_all(
        selector,
        "els => els.filter(e => e.offsetParent && e.getBoundingClientRect().height < 44).map(e => e.textContent.trim())",
    )


def test_an_operator_drafts_backtests_and_activates_a_version_by_clicking(staff_page):
    for n in range(3):
        fraud_check_create(email=f"buyer{n}@example.com", amount=Decimal("150.00"), card_fingerprint=f"fp{n}")
    operator = make_user("ann", permissions=OPERATOR)
    page = staff_page(operator, LIST)
    assert "In force: version 1, the GUARD_* settings" in page.locator(".rs-panel").first.inner_text()

    page.get_by_role("link", name=re.compile("Add rule set|Draft a new version")).first.click()
    page.wait_for_url(re.compile("/add/"))
    assert page.get_by_label("Review above").input_value() == "5000.00"
    page.get_by_label("Note").fill("Review above 100")
    page.get_by_label("Review above").fill("100")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(f"{LIST}$"))
    draft = RuleSet.objects.get()

    page.get_by_role("link", name="v2", exact=True).click()
    assert "Activation needs a finished backtest" in page.get_by_role("region", name="State").inner_text()
    assert page.get_by_role("button", name=re.compile("Activate")).count() == 0
    page.get_by_label("Replay the checks of the past").select_option("7")
    page.get_by_role("button", name="Run backtest").click()
    page.wait_for_load_state()
    backtest = page.get_by_role("region", name="Backtest").inner_text()
    assert "3 decisions would change" in backtest
    shot(page, "admin/rulesets-change")

    page.get_by_role("button", name="Activate v2").click()
    page.wait_for_load_state()
    assert "Now in force: v2." in page.locator(".messagelist").inner_text()
    draft.refresh_from_db()
    assert (draft.state, draft.activated_by) == ("active", "user:ann")


@pytest.mark.parametrize("dark", [False, True])
def test_the_list_and_a_version_page_fit_desktop_and_phone_light_and_dark(staff_page, dark):
    for n in range(2):
        fraud_check_create(email=f"buyer{n}@example.com", amount=Decimal("150.00"))
    long_note = "Review above 100 for the holiday season: " + "card-testing-waves-" * 6
    shadowed = ruleset_shadow_start(
        ruleset=ruleset_draft(note=long_note, by="user:ann", review_amount=Decimal("100")), by="user:ann"
    )
    fraud_check_create(email="shadowed@example.com", amount=Decimal("150.00"))
    ruleset_draft(note="Another draft", by="user:bob", max_per_hour=3)
    operator = make_user("ann", permissions=OPERATOR)
    mode = "-dark" if dark else ""
    for viewport in ("desktop", "phone"):
        page = staff_page(operator, LIST, viewport=viewport, dark=dark)
        assert not pans(page)
        assert "In shadow: v2" in page.locator(".rs-panel").inner_text()
        shot(page, f"admin/rulesets-list-{viewport}{mode}")
        page = staff_page(operator, f"{LIST}{shadowed.pk}/change/", viewport=viewport, dark=dark)
        page.get_by_role("button", name="Run backtest").click()
        page.wait_for_load_state()
        assert not pans(page)
        assert "would have decided 1 differently" in page.get_by_role("region", name="Shadow agreement").inner_text()
        if viewport == "phone":
            assert not small_targets(page, ".rs-actions .rs-button, .rs-run .rs-button, .rs-run select")
        shot(page, f"admin/rulesets-change-{viewport}{mode}")
    if dark:
        background = page.evaluate("getComputedStyle(document.querySelector('.rs-panel')).backgroundColor")
        assert background not in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)")
