"""The review desk without a browser: the claim service, the history selectors and the decision page's rules."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fraud.models import FraudReview
from fraud.selectors import review_customer, review_next_open, review_queue_histories
from fraud.services import (
    CLAIM_FOR,
    NOTE_MAX_LENGTH,
    NOTE_TOO_LONG,
    fraud_check_create,
    fraud_review_act,
    fraud_review_claim,
)
from payments.models import Payment
from tests.factories import make_fraud_check, make_fraud_review, make_payment, make_user
from tests.fixtures.database import at_once

QUEUE = "/admin/fraud/fraudreview/"
VIEW = ("fraud.view_fraudreview", "fraud.view_fraudcheck")
REVIEWER = (*VIEW, "fraud.review_fraudcheck")


def page_of(review) -> str:
    return f"{QUEUE}{review.pk}/change/"


def big(email: str, **options):
    return fraud_check_create(email=email, amount=Decimal("7250.00"), **options)


# --- fraud_review_claim ---


@pytest.mark.django_db
def test_a_claim_holds_for_ten_minutes_and_is_audited_once(
    review_check, read_audit, django_capture_on_commit_callbacks
):
    review, now = review_check.review, timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        assert fraud_review_claim(review=review, by="user:alice", now=now)
        assert fraud_review_claim(review=review, by="user:alice", now=now + timedelta(minutes=5))  # renewed
    stored = FraudReview.objects.get()
    assert (stored.claimed_by, stored.claimed_until) == ("user:alice", now + timedelta(minutes=5) + CLAIM_FOR)
    lines = [line for line in read_audit("fraud_guard") if line["event"].startswith("review_claim")]
    assert [(line["event"], line["by"], line["check_id"]) for line in lines] == [
        ("review_claimed", "user:alice", review_check.check_id)
    ]


@pytest.mark.django_db
def test_another_reviewer_cannot_claim_a_held_review_but_may_take_it_over(
    review_check, read_audit, django_capture_on_commit_callbacks
):
    review, now = review_check.review, timezone.now()
    fraud_review_claim(review=review, by="user:alice", now=now)
    theirs = FraudReview.objects.get()
    assert not fraud_review_claim(review=theirs, by="user:bob", now=now)
    assert theirs.claimed_by == "user:alice"  # brought up to date: bob's page shows alice
    with django_capture_on_commit_callbacks(execute=True):
        assert fraud_review_claim(review=theirs, by="user:bob", now=now, takeover=True)
    assert FraudReview.objects.get().claimed_by == "user:bob"
    taken = [line for line in read_audit("fraud_guard") if line["event"] == "review_claim_taken_over"]
    assert [(line["by"], line["from_by"]) for line in taken] == [("user:bob", "user:alice")]


@pytest.mark.django_db
def test_a_takeover_takes_only_from_the_holder_it_saw(review_check):
    review, now = review_check.review, timezone.now()
    fraud_review_claim(review=review, by="user:alice", now=now)
    seen_by_bob = FraudReview.objects.get()
    carol = FraudReview.objects.get()
    assert fraud_review_claim(review=carol, by="user:carol", now=now, takeover=True)
    assert not fraud_review_claim(review=seen_by_bob, by="user:bob", now=now, takeover=True)
    assert seen_by_bob.claimed_by == "user:carol"
    assert FraudReview.objects.get().claimed_by == "user:carol"


@pytest.mark.django_db
def test_a_claim_runs_out_and_a_closed_review_is_never_claimed(review_check):
    review, now = review_check.review, timezone.now()
    fraud_review_claim(review=review, by="user:alice", now=now)
    later = now + CLAIM_FOR + timedelta(seconds=1)
    assert fraud_review_claim(review=FraudReview.objects.get(), by="user:bob", now=later)
    FraudReview.objects.update(state=FraudReview.State.APPROVED)
    assert not fraud_review_claim(review=FraudReview.objects.get(), by="user:bob", now=later, takeover=True)
    assert not fraud_review_claim(review=FraudReview.objects.get(), by="user:carol", now=later + CLAIM_FOR * 2)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_of_reviewers_claiming_at_once_exactly_one_wins():
    review = big("race@example.com").review
    count = 6

    def claim(index):
        mine = FraudReview.objects.select_related("fraud_check").get(pk=review.pk)
        return fraud_review_claim(review=mine, by=f"user:r{index}")

    results = at_once(count, claim)
    assert sorted(results, key=str) == [False] * (count - 1) + [True], results
    winner = results.index(True)
    assert FraudReview.objects.get().claimed_by == f"user:r{winner}"


# --- selectors ---


@pytest.mark.django_db
def test_the_queue_history_counts_the_card_the_ledger_and_refunds():
    now = timezone.now()
    grace = big("grace@example.com", card_fingerprint="fpG")
    make_fraud_check(email="other@example.com", card_key="card:fpG", created_at=now - timedelta(hours=3))
    make_fraud_check(email="grace@example.com", card_key="card:fpG", created_at=now - timedelta(hours=25))  # too old
    make_payment(email="grace@example.com")
    make_payment(email="grace@example.com", status=Payment.Status.REFUNDED)
    make_payment(email="someone@example.com", status=Payment.Status.REFUNDED)
    lone = big("lone@example.com")
    histories = review_queue_histories(checks=[grace, lone], now=now)
    assert (histories[grace.pk].checks_24h, histories[grace.pk].payments, histories[grace.pk].refunds) == (2, 2, 1)
    assert (histories[lone.pk].checks_24h, histories[lone.pk].payments, histories[lone.pk].refunds) == (1, 0, 0)


@pytest.mark.django_db
def test_the_customer_file_has_totals_first_seen_and_the_other_emails_and_cards():
    now = timezone.now()
    make_payment(email="grace@example.com", status=Payment.Status.FAILED, created_at=now - timedelta(days=40))
    make_payment(email="grace@example.com", status=Payment.Status.REFUNDED, created_at=now - timedelta(days=2))
    fraud_check_create(
        email="grace@example.com", amount=Decimal("100.00"), card_fingerprint="fpOld", now=now - timedelta(days=3)
    )
    fraud_check_create(email="alias@example.com", amount=Decimal("5.00"), card_fingerprint="fpG")
    fraud_check_create(email="grace@example.com", amount=Decimal("12000"), currency="jpy", card_fingerprint="fpG")
    check = big("grace@example.com", card_fingerprint="fpG")
    file = review_customer(check=check, now=timezone.now())
    assert [(t.currency, t.count, t.amount) for t in file.totals_24h] == [
        ("jpy", 1, Decimal("12000.00")),
        ("usd", 1, Decimal("7250.00")),
    ]
    assert [(t.currency, t.count, t.amount) for t in file.totals_30d][1] == ("usd", 2, Decimal("7350.00"))
    assert file.first_seen == now - timedelta(days=40)
    assert (file.refunds, file.failures) == (1, 1)
    assert file.other_emails == ["alias@example.com"] and file.other_cards == ["fpOld"]
    assert check not in file.checks and len(file.checks) == 2 and len(file.payments) == 2


@pytest.mark.django_db
def test_the_next_open_review_is_the_oldest_nobody_else_holds():
    now = timezone.now()
    oldest = make_fraud_review(opened_at=now - timedelta(hours=3), claimed_by="user:bob", claimed_until=now + CLAIM_FOR)
    middle = make_fraud_review(opened_at=now - timedelta(hours=2))
    newest = make_fraud_review(opened_at=now - timedelta(hours=1))
    make_fraud_review(opened_at=now - timedelta(hours=4), state=FraudReview.State.APPROVED)
    assert review_next_open(after=newest, by="user:alice", now=now) == middle
    assert review_next_open(after=middle, by="user:alice", now=now) == newest
    assert review_next_open(after=middle, by="user:bob", now=now) == oldest


# --- the queue and the decision page ---


@pytest.mark.django_db
def test_the_queue_reads_a_page_of_reviews_in_the_same_queries_whatever_its_length(staff_login):
    client = staff_login(*REVIEWER)

    def queries_for_queue():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(QUEUE).status_code == 200
        return len(queries)

    big("one@example.com")
    few = queries_for_queue()
    for n in range(8):
        big(f"more{n}@example.com", card_fingerprint=f"fp{n}")
        make_payment(email=f"more{n}@example.com")
    assert queries_for_queue() == few


@pytest.mark.django_db
def test_the_queue_shows_the_oldest_first_and_all_states_apart(staff_login):
    now = timezone.now()
    make_fraud_review(fraud_check=make_fraud_check(email="newer@example.com", decision="review"), opened_at=now)
    make_fraud_review(
        fraud_check=make_fraud_check(email="older@example.com", decision="review"), opened_at=now - timedelta(hours=1)
    )
    make_fraud_review(fraud_check=make_fraud_check(email="done@example.com"), state="rejected", resolution="fraud")
    client = staff_login(*REVIEWER)
    html = client.get(QUEUE).content.decode()
    assert html.index("older@example.com") < html.index("newer@example.com") and "done@example.com" not in html
    every = client.get(QUEUE, {"state": "all"}).content.decode()
    assert 'record-badge-rejected">Rejected' in every and 'record-badge-open">Open' in every


@pytest.mark.django_db
def test_a_view_only_user_sees_the_page_without_claiming_and_a_forged_decision_is_403(staff_login, review_check):
    client = staff_login(*VIEW)
    html = client.get(page_of(review_check.review)).content.decode()
    assert "USD 6,000.00" in html and 'value="approve"' not in html and 'name="takeover"' not in html
    assert FraudReview.objects.get().claimed_by == ""
    for posted in ({"decision": "approve"}, {"decision": "reject", "resolution": "fraud"}, {"takeover": "1"}):
        assert client.post(page_of(review_check.review), posted).status_code == 403
    stored = FraudReview.objects.get()
    assert (stored.state, stored.closed_by, stored.claimed_by) == ("open", "", "")


@pytest.mark.django_db
def test_a_reviewer_cannot_decide_a_review_someone_else_holds_without_taking_it_over(staff_login, review_check):
    fraud_review_claim(review=review_check.review, by="user:alice")
    client = staff_login(*REVIEWER, username="bob")
    html = client.get(page_of(review_check.review)).content.decode()
    assert "Being reviewed by alice" in html and 'value="approve"' not in html
    response = client.post(page_of(review_check.review), {"decision": "approve"}, follow=True)
    assert "Being reviewed by alice; take it over to decide." in response.content.decode()
    assert FraudReview.objects.get().state == "open"
    client.post(page_of(review_check.review), {"takeover": "1"})
    client.post(page_of(review_check.review), {"decision": "approve"})
    stored = FraudReview.objects.get()
    assert (stored.state, stored.closed_by) == ("approved", "user:bob")


@pytest.mark.django_db
def test_a_decision_says_what_happened_and_opens_the_next_review(staff_login):
    first, second = big("grace@example.com").review, big("hopper@example.com").review
    client = staff_login(*REVIEWER)
    client.get(page_of(first))
    response = client.post(page_of(first), {"decision": "reject", "resolution": "fraud", "note": ""})
    assert response.status_code == 302 and response["Location"] == page_of(second)
    after = client.get(response["Location"]).content.decode()
    assert "Rejected 1 review: grace@…, USD 7,250.00 — fraud" in after
    last = client.post(page_of(second), {"decision": "approve", "resolution": "", "note": "called them"}, follow=True)
    assert last.redirect_chain[-1][0] == QUEUE
    html = last.content.decode()
    assert "Approved 1 review: hopper@…, USD 7,250.00" in html and "No open reviews are left." in html


@pytest.mark.django_db
def test_a_note_over_the_apis_limit_is_refused_not_cut(staff_login, review_check, api):
    client = staff_login(*REVIEWER)
    long_note = "x" * (NOTE_MAX_LENGTH + 1)
    html = client.post(page_of(review_check.review), {"decision": "approve", "note": long_note}).content.decode()
    assert NOTE_TOO_LONG in html
    assert FraudReview.objects.get().state == "open"
    answer = api.post(
        f"/api/fraud/checks/{review_check.check_id}/review", {"action": "approve", "note": long_note}, format="json"
    )
    assert answer.status_code == 400 and "note" in answer.json()["fields"]


@pytest.mark.django_db
def test_hostile_text_in_the_email_and_the_note_is_shown_as_text(staff_login):
    check = big("<script>alert(1)</script>@example.com")
    client = staff_login(*REVIEWER)
    note = '<img src=x onerror="alert(2)">\x07'
    client.post(page_of(check.review), {"decision": "approve", "note": note})
    queue = client.get(QUEUE, {"state": "all"}).content.decode()
    page = client.get(page_of(check.review)).content.decode()
    for html in (queue, page):
        assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert "<img src=x" not in page and "&lt;img src=x" in page


@pytest.mark.django_db
def test_the_review_page_has_no_save_or_delete_and_no_inline_script(staff_login, review_check):
    html = staff_login(*REVIEWER).get(page_of(review_check.review)).content.decode()
    assert 'name="_save"' not in html and "deletelink" not in html
    assert "onclick=" not in html and "fraud/review.js" in html
    scripts = [part.split(">", 1)[1].split("</script", 1)[0] for part in html.split("<script")[1:]]
    assert all(not body.strip() for body in scripts)


@pytest.mark.django_db
def test_the_evidence_shows_the_observed_count_against_the_limit(staff_login, settings):
    settings.GUARD_MAX_PER_HOUR = 5
    for n in range(6):
        check = fraud_check_create(email=f"c{n}@example.com", amount=Decimal("10.00"), card_fingerprint="fpV")
    review = fraud_review_act(check=check, action="open", by="user:ops")  # a manual review of the blocked check
    html = staff_login(*REVIEWER).get(page_of(review)).content.decode()
    row = html.split("Payments with this card in the past hour, before this one", 1)[1].split("</tr>", 1)[0]
    assert [cell.split("</td>")[0] for cell in row.split('class="desk-num">')[1:]] == ["5", "5"]  # the rule: 5 >= 5
    assert "5 payments with this card in the past hour (limit 5)" in html
    assert "Today&#x27;s total with this email before this payment" in html and "USD 0.00" in html  # a new email


@pytest.mark.django_db
def test_the_queue_is_titled_by_what_it_shows(client):
    client.force_login(make_user("reader", permissions=["fraud.view_fraudreview"]))
    assert "Review queue: open reviews, longest waiting first" in client.get(QUEUE).content.decode()
    assert "<h1>Closed reviews</h1>" in client.get(QUEUE + "?state=closed").content.decode()
    assert "<h1>All reviews</h1>" in client.get(QUEUE + "?state=all").content.decode()
