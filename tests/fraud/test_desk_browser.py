"""The review desk in real headless Chromium, at 1366×900 and 390×844, light and dark: it fits, and it decides.

Screenshots: test-artifacts/admin/desk-*.png.
"""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from fraud.models import FraudReview
from fraud.services import fraud_check_create, fraud_review_claim
from payments.models import Payment
from tests.factories import make_payment, make_user
from tests.fixtures.browser import overflow, pans, shot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

QUEUE = "/admin/fraud/fraudreview/"
VIEW = ["fraud.view_fraudreview", "fraud.view_fraudcheck"]
REVIEWER = [*VIEW, "fraud.review_fraudcheck"]


def page_of(review) -> str:
    return f"{QUEUE}{review.pk}/change/"


def open_reviews():
    """Three reviews waiting, oldest first: grace (the issue's example, with a long history), then two more."""
    now = timezone.now()
    reviews = []
    for minutes, email, amount, card in [
        (50, "grace.muller119@example.com", "7250.00", "fp_" + "4f9a1c2b7d3e8f60" * 3 + "a1b2c3d4e5f60"),
        (30, "eva.silva70@example.net", "6100.00", "fp_eva"),
        (10, "mallory@fraudster.test", "8500.00", "fp_mallory"),
    ]:
        check = fraud_check_create(
            email=email,
            amount=Decimal(amount),
            card_type="credit",
            card_fingerprint=card,
            now=now - timedelta(minutes=minutes),
        )
        reviews.append(check.review)
    for n in range(3):
        make_payment(
            email="grace.muller119@example.com", amount=Decimal("1234567.89"), created_at=now - timedelta(days=n)
        )
    make_payment(
        email="grace.muller119@example.com", status=Payment.Status.REFUNDED, created_at=now - timedelta(days=5)
    )
    return reviews


CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"


def under_csp(page) -> list[str]:
    """Serve the review pages with a strict Content-Security-Policy; returns the violations the console reports."""

    def with_policy(route):
        if route.request.method != "GET":  # a decision's redirect is left for the browser to follow
            route.continue_()
            return
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, "content-security-policy": CSP})

    page.route(re.compile(r"/admin/fraud/fraudreview/\d+/change/$"), with_policy)
    violations = []
    page.on("console", lambda message: "Content Security Policy" in message.text and violations.append(message.text))
    return violations


def tall_enough(page, names) -> dict:
    """The height of each named button or link that is under 44 px (empty: all are touch-sized)."""
    heights = {}
    for role, name in names:
        box = page.get_by_role(role, name=re.compile(name)).first.bounding_box()
        heights[name] = box and box["height"]
    return {name: height for name, height in heights.items() if not height or height < 44}


def test_a_reviewer_works_the_queue_with_buttons_and_keys_on_desktop_and_phone(staff_page):
    grace, eva, mallory = open_reviews()
    reviewer = make_user("alice", permissions=REVIEWER)

    page = staff_page(reviewer, QUEUE)
    assert overflow(page, "#changelist .results") == 0
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 3
    assert "grace.muller119@example.com" in rows.nth(0).inner_text()  # oldest waiting first
    assert "1 check in 24\u00a0h · 4 payments · 1 refund" in rows.nth(0).inner_text()
    assert "above the review threshold of USD 5,000.00" in rows.nth(0).inner_text()
    assert page.get_by_role("combobox", name="Action").count() == 0  # no bulk actions to shrink
    shot(page, "admin/desk-queue")

    phone = staff_page(reviewer, QUEUE, viewport="phone")
    assert overflow(phone, "#changelist .results") == 0 and not pans(phone)
    assert not tall_enough(phone, [("link", "grace.muller119"), ("link", "Open \\(queue\\)")])
    shot(phone, "admin/desk-queue-phone")

    # The decision page: the evidence, then Approve with the button; save and next lands on eva's review.
    violations = under_csp(page)
    page.get_by_role("link", name=re.compile("grace.muller119")).click()
    page.wait_for_url(re.compile(f"{page_of(grace)}$"))
    assert page.get_by_role("heading", name="Review: USD 7,250.00, grace.muller119@example.com").is_visible()
    evidence = page.get_by_role("region", name="Evidence").inner_text()
    assert "USD 7,250.00" in evidence and "USD 5,000.00" in evidence and "review_amount" in evidence
    assert page.get_by_role("button", name=re.compile("Save|Delete")).count() == 0
    assert "You are reviewing this" in page.get_by_role("region", name="State").inner_text()
    shot(page, "admin/desk-review")
    page.get_by_role("button", name=re.compile("Approve")).click()
    page.wait_for_url(re.compile(f"{page_of(eva)}$"))
    assert "Approved 1 review: grace.muller119@…, USD 7,250.00" in page.locator(".messagelist").inner_text()

    # Keys: ? shows the help; r puts the focus on the reason, a choice and Enter reject; on to mallory.
    assert not page.locator("#desk-help").is_visible()
    page.keyboard.press("?")
    assert page.locator("#desk-help").is_visible()
    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.id") == "id_resolution"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(f"{page_of(mallory)}$"))
    assert "Rejected 1 review: eva.silva70@…, USD 6,100.00 — fraud" in page.locator(".messagelist").inner_text()
    assert violations == []  # the keys worked under script-src 'self', and nothing was refused

    # On the phone, every action is reachable and touch-sized; a approves the last one and lands on the queue.
    phone.goto(phone.url.split("/admin/")[0] + page_of(mallory))
    assert not pans(phone)
    assert not tall_enough(
        phone,
        [
            ("button", "Approve"),
            ("button", "Reject"),
            ("combobox", "Reason"),
            ("textbox", "Note"),
            ("link", "Back to the queue"),
        ],
    )
    shot(phone, "admin/desk-review-phone")
    phone.keyboard.press("a")
    phone.wait_for_url(re.compile(f"{QUEUE}$"))
    assert "No open reviews are left." in phone.locator(".messagelist").inner_text()

    states = dict(FraudReview.objects.values_list("fraud_check__email", "state"))
    assert states == {
        "grace.muller119@example.com": "approved",
        "eva.silva70@example.net": "rejected",
        "mallory@fraudster.test": "approved",
    }
    assert FraudReview.objects.get(state="rejected").resolution == "fraud"

    # Closed: the decision, who and when, read-only; under "All" the states read apart.
    base = page.url.split("/admin/")[0]
    page.goto(base + page_of(eva))
    state = page.get_by_role("region", name="State").inner_text()
    assert "Rejected by alice on" in state and "Fraud" in state
    assert page.get_by_role("button", name=re.compile("Approve|Reject|Take over")).count() == 0
    shot(page, "admin/desk-review-closed")
    page.goto(base + QUEUE + "?state=all")
    badges = page.locator("#result_list .record-badge").all_inner_texts()
    assert sorted(badges) == ["Approved", "Approved", "Rejected"]
    assert overflow(page, "#changelist .results") == 0
    shot(page, "admin/desk-queue-all")


def test_a_claim_shows_to_another_reviewer_who_may_take_it_over_and_a_viewer_sees_no_action(staff_page):
    grace, _eva, _mallory = open_reviews()
    fraud_review_claim(review=grace, by="user:alice")
    bob = make_user("bob", permissions=REVIEWER)

    queue = staff_page(bob, QUEUE, dark=True)
    assert "being reviewed by alice" in queue.locator("#result_list tbody tr").first.inner_text()
    shot(queue, "admin/desk-queue-dark")
    queue.get_by_role("link", name=re.compile("grace.muller119")).click()
    queue.wait_for_url(re.compile(f"{page_of(grace)}$"))
    assert "Being reviewed by alice" in queue.get_by_role("region", name="State").inner_text()
    assert queue.get_by_role("button", name="Approve").count() == 0
    shot(queue, "admin/desk-review-claimed-dark")
    queue.get_by_role("button", name="Take over from alice").click()
    queue.wait_for_load_state()
    assert "You are reviewing this" in queue.get_by_role("region", name="State").inner_text()
    assert queue.get_by_role("button", name=re.compile("Approve")).is_visible()
    grace.refresh_from_db()
    assert grace.claimed_by == "user:bob"

    viewer = staff_page(make_user("viewer", permissions=VIEW), page_of(grace), viewport="phone")
    assert "Being reviewed by bob" in viewer.get_by_role("region", name="State").inner_text()
    assert viewer.get_by_role("button", name=re.compile("Approve|Reject|Take over")).count() == 0
    viewer.keyboard.press("a")  # the keys find nothing to press
    assert viewer.get_by_role("link", name="Back to the queue").is_visible()
    grace.refresh_from_db()
    assert (grace.state, grace.claimed_by) == ("open", "user:bob")
