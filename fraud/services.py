"""Writes of the fraud guard: deciding a check, and reviewing it."""

from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Count, F, Max, Min, Q
from django.db.models.sql import InsertQuery
from django.utils import timezone

from echopilot.audit import audit_event
from echopilot.exceptions import Conflict, Invalid
from fraud import rulesets, selectors
from fraud.models import DecisionTally, DecisionTallyMark, FraudCheck, FraudReview
from fraud.rules import REVIEW, Facts, RuleConfig, canonical_email, decide


def fraud_check_create(
    *,
    email: str,
    amount: Decimal,
    currency: str = "usd",
    card_type: str = "unknown",
    card_fingerprint: str = "",
    payment_id: str | None = None,
    recent_count: int | None = None,
    daily_total: Decimal | None = None,
    ip: str | None = None,
    created_by: str = "",
    config: RuleConfig | None = None,
    now: datetime | None = None,
) -> FraudCheck:
    """Count, decide and record one check in one short transaction under the card's and email's locks.

    A payment id seen before returns the check stored for it, counted once. The email is counted
    under its canonical key (``fraud.rules.canonical_email``) and stored as given.

    The rules are ``config`` when given; otherwise the stored rule set in force (``fraud.rulesets``),
    else the GUARD_* settings, and a version running in shadow is evaluated on the same facts and its
    would-be decision stored with the check. The counting query itself says which versions are in
    force; when they are not the ones this process last saw, it reads them (and starts the check again
    only if they key emails differently or need a signal or a lock it skipped).
    """
    live = None if config else rulesets.live_rules()
    config = config or live.config()
    email_key = canonical_email(email, config.dot_domains)
    card_key = selectors.card_key_for(email_key=email_key, card_fingerprint=card_fingerprint)
    try:
        with _check_transaction() as tx:
            moment = now or timezone.now()

            def count(uncounted):
                return selectors.locked_facts(
                    card_key=card_key,
                    email=email,
                    email_key=email_key,
                    currency=currency,
                    card_fingerprint=card_fingerprint,
                    payment_id=payment_id,
                    now=moment,
                    ip=ip,
                    uncounted=uncounted,
                    begin=tx.opens(),
                    lock_ip="ip_count" not in config.uncounted,  # the shadow takes no lock of its own
                )

            uncounted = live.uncounted(config) if live else config.uncounted
            stored = count(uncounted)
            if live and (stored.active_version, stored.shadow_version) != (live.active_version, live.shadow_version):
                live = rulesets.live_refresh(stored.active_version, stored.shadow_version)
                ruling = live.config()
                if (
                    ruling.dot_domains != config.dot_domains  # they name the email differently
                    or uncounted - live.uncounted(ruling)  # they need a signal this count skipped
                    or "ip_count" in config.uncounted - ruling.uncounted  # they hold the IP: its lock is missing
                ):
                    # Start again under the new rules, in a new transaction: locks are only ever taken in one
                    # sorted statement, so two checks never wait on each other.
                    raise _RulesChanged
                config = ruling
            if stored.replay_of:
                return FraudCheck.objects.get(pk=stored.replay_of)
            facts = Facts(
                email=email,
                amount=amount,
                card_type=card_type,
                recent_count=max(stored.recent_count, recent_count or 0),
                daily_total=max(stored.daily_total, daily_total or Decimal("0")),
                allow_hit=stored.allow_hit,
                block_hit=stored.block_hit,
                cards_per_email=stored.other_cards + 1 if card_fingerprint else stored.other_cards,
                emails_per_card=stored.other_emails + 1 if card_fingerprint else 0,
                card_declines=stored.card_declines,
                ip_count=stored.ip_count,
            )
            decision = decide(facts, config)
            shadow = decide(facts, live.shadow) if live and live.shadow else None
            check = FraudCheck(
                email=email,
                amount=amount,
                currency=currency,
                card_type=card_type,
                card_fingerprint=card_fingerprint,
                card_key=card_key,
                email_key=email_key,
                ip=ip,
                payment_ref=payment_id or "",
                payment_id=stored.payment_pk,
                caller_recent_count=recent_count,
                caller_daily_total=daily_total,
                decision=decision.outcome,
                reason=decision.reason,
                rule=decision.rule,
                observed={
                    **decision.observed,
                    "ours_recent_count": stored.recent_count,
                    "ours_daily_total": f"{stored.daily_total:.2f}",
                },
                limit=decision.limit or "",
                ruleset_version=config.version,
                shadow_version=live.shadow.version if shadow else "",
                shadow_decision=shadow.outcome if shadow else "",
                shadow_reason=shadow.reason if shadow else "",
                created_by=created_by,
                created_at=moment,
            )
            if decision.outcome == REVIEW:
                tx.insert(check, commit=False)
                FraudReview.objects.create(fraud_check=check, opened_reason=FraudReview.Opened.RULE, opened_at=moment)
                tx.end()  # before the audit line, which is written at once outside Django's atomic()
            else:  # known to have no review: spare the caller a query for it
                tx.insert(check, commit=True)
                FraudCheck.review.related.set_cached_value(check, None)
            audit_event(
                "fraud_guard",
                "fraud_check",
                check_id=check.check_id,
                email=email,
                amount=amount,
                currency=currency,
                decision=check.decision,
                reason=check.reason,
                rule=check.rule,
                observed=check.observed,
                ruleset_version=check.ruleset_version,
                payment_id=payment_id,
                **(
                    {"shadow": {"version": check.shadow_version, "decision": shadow.outcome, "reason": shadow.reason}}
                    if shadow
                    else {}
                ),
            )
            return check
    except _RulesChanged:
        return fraud_check_create(
            email=email,
            amount=amount,
            currency=currency,
            card_type=card_type,
            card_fingerprint=card_fingerprint,
            payment_id=payment_id,
            recent_count=recent_count,
            daily_total=daily_total,
            ip=ip,
            created_by=created_by,
            now=now,
        )
    except IntegrityError:
        # The same payment id raced in from a request for another card: the first one stands.
        if payment_id:
            existing = FraudCheck.objects.filter(payment_ref=payment_id).first()
            if existing:
                return existing
        raise


class _Transaction:
    """The check's transaction, as ``_check_transaction`` opened it."""

    def __init__(self, own: bool):
        self.own = own  # ours to open and commit (PostgreSQL, autocommit), not Django's atomic()
        self.open = False

    def opens(self) -> bool:
        """Whether the statement about to be sent opens the transaction (its BEGIN travels with it)."""
        if self.own and not self.open:
            self.open = True
            return True
        return False

    def insert(self, check: FraudCheck, *, commit: bool) -> None:
        """INSERT the check, and when ``commit`` and the transaction is ours, COMMIT in the same round trip.

        Django's own compiler writes the statement (every field converted and adapted as ``save()`` would);
        nothing listens to a check's save signals.
        """
        query = InsertQuery(FraudCheck)
        query.insert_values(
            [field for field in FraudCheck._meta.local_concrete_fields if not field.primary_key], [check]
        )
        compiler = query.get_compiler(connection=connection)
        compiler.returning_fields = [FraudCheck._meta.pk]
        [(sql, params)] = compiler.as_sql()
        ends = commit and self.own
        with connection.cursor() as cursor:
            cursor.execute(sql + ("; COMMIT" if ends else ""), params)
            check.pk = cursor.fetchone()[0]
        self.open = self.open and not ends
        check._state.adding, check._state.db = False, connection.alias

    def end(self) -> None:
        if self.open:
            with connection.cursor() as cursor:
                cursor.execute("COMMIT")
            self.open = False


@contextmanager
def _check_transaction():
    """The check's one short transaction.

    On PostgreSQL, when the caller holds no transaction of its own (the API's case), the check runs it
    itself on the autocommit connection: its BEGIN goes with the locking and counting statement and its
    COMMIT with the insert, two round trips where Django's ``atomic()`` takes four (measured in one
    process: about 50 us of PostgreSQL's CPU and 100-150 us of ours per check). Anything that fails
    rolls it back. Otherwise (SQLite, whose BEGIN IMMEDIATE takes the write lock; a caller's
    transaction, as in tests and commands) it is ``atomic()``.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block or not connection.get_autocommit():
        with transaction.atomic():
            yield _Transaction(own=False)
        return
    tx = _Transaction(own=True)
    try:
        yield tx
    except BaseException:
        if tx.open:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("ROLLBACK")
            except DatabaseError:  # the connection broke: PostgreSQL ends the transaction with it
                pass
        raise
    tx.end()  # still open only when nothing was written (a replayed payment id)


class _RulesChanged(Exception):
    """The rules in force changed how emails are keyed since this process last looked: check again."""


REVIEW_ACTIONS = ("open", "approve", "reject")
REJECTION_NEEDS_A_REASON = "A rejection needs a resolution: fraud, customer_request or other."
NOTE_MAX_LENGTH = 2000
NOTE_TOO_LONG = f"A note has at most {NOTE_MAX_LENGTH} characters."
CLAIM_FOR = timedelta(minutes=10)


def fraud_review_act(*, check: FraudCheck, action: str, resolution: str = "", note: str = "", by: str) -> FraudReview:
    """An operator's decision on a check: ``open`` a manual review, or ``approve`` / ``reject`` its open review.

    Returns the review, also kept on ``check`` in memory: a check loaded with
    ``select_related("review")`` needs no second read to be answered.

    Raises ``Invalid`` for an unknown action or resolution, for a rejection
    without a resolution and for a note over ``NOTE_MAX_LENGTH``, and ``Conflict`` when a review is opened on a check
    that has one (``review_exists``), closed on a check that has none
    (``no_review``) or closed again (``review_closed``). Closing is one
    conditional UPDATE on ``state='open'``: of reviewers acting at once, one wins.
    """
    if action not in REVIEW_ACTIONS:
        reason = f"Unknown action; one of {', '.join(REVIEW_ACTIONS)}."
        raise Invalid(reason, code="validation_error", fields={"action": [reason]})
    if resolution and resolution not in FraudReview.Resolution.values:
        reason = f"Unknown resolution; one of {', '.join(FraudReview.Resolution.values)}."
        raise Invalid(reason, code="validation_error", fields={"resolution": [reason]})
    if action == "reject" and not resolution:
        raise Invalid(
            REJECTION_NEEDS_A_REASON, code="validation_error", fields={"resolution": [REJECTION_NEEDS_A_REASON]}
        )
    if len(note) > NOTE_MAX_LENGTH:
        raise Invalid(NOTE_TOO_LONG, code="validation_error", fields={"note": [NOTE_TOO_LONG]})
    if action == "open":
        return _review_open(check=check, by=by)
    review = getattr(check, "review", None)
    if review is None:
        raise Conflict("This check has no review to close.", code="no_review")
    if not _review_close(review=review, approve=action == "approve", resolution=resolution, note=note, by=by):
        raise Conflict("This review is already closed.", code="review_closed")
    return review


def _review_open(*, check: FraudCheck, by: str) -> FraudReview:
    review, created = FraudReview.objects.get_or_create(
        fraud_check=check, defaults={"opened_reason": FraudReview.Opened.MANUAL, "opened_by": by}
    )
    if not created:
        raise Conflict("This check already has a review.", code="review_exists")
    check.review = review
    audit_event("fraud_guard", "review_opened", check_id=check.check_id, opened_reason="manual", by=by)
    return review


def _review_close(*, review: FraudReview, approve: bool, resolution: str, note: str, by: str) -> bool:
    """Close an open review; False when it was already closed by someone else.

    When it wins, ``review`` is brought up to date in memory (no re-read); when
    it loses, ``review`` is left as it was.
    """
    state = FraudReview.State.APPROVED if approve else FraudReview.State.REJECTED
    changes = {
        "state": state.value,
        "resolution": resolution,
        "note": note,
        "closed_by": by,
        "closed_at": timezone.now(),
    }
    closed = FraudReview.objects.filter(pk=review.pk, state=FraudReview.State.OPEN).update(**changes)
    if closed:
        for field, value in changes.items():
            setattr(review, field, value)
        audit_event(
            "fraud_guard",
            "review_closed",
            check_id=review.fraud_check.check_id,
            state=state,
            resolution=resolution,
            by=by,
        )
    return bool(closed)


def fraud_review_claim(*, review: FraudReview, by: str, now: datetime | None = None, takeover: bool = False) -> bool:
    """Claim an open review for ``by`` until ``now + CLAIM_FOR``; False when someone else holds it (or it is closed).

    Each step is one conditional UPDATE, so of reviewers claiming at once exactly
    one wins: ``by``'s own live claim is renewed (no audit line); a review nobody
    holds (never claimed, or the claim ran out) is claimed (``review_claimed``).
    ``takeover=True`` takes the claim from the holder ``review`` shows, and only
    from them: if it changed hands meanwhile, the takeover fails and the new
    holder is shown (``review_claim_taken_over``). ``review`` is brought up to
    date in memory either way.
    """
    now = now or timezone.now()
    until = now + CLAIM_FOR
    reviews = FraudReview.objects.filter(pk=review.pk, state=FraudReview.State.OPEN)
    if reviews.filter(claimed_by=by, claimed_until__gt=now).update(claimed_until=until):
        review.claimed_until = until
        return True
    holder = review.claimed_by if review.claimed_until and review.claimed_until > now else ""
    if takeover and holder and holder != by:
        won = reviews.filter(claimed_by=holder, claimed_until__gt=now).update(claimed_by=by, claimed_until=until)
        event, extra = "review_claim_taken_over", {"from_by": holder}
    else:
        free = Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)  # a claim always sets both fields
        won = reviews.filter(free).update(claimed_by=by, claimed_until=until)
        event, extra = "review_claimed", {}
    if not won:
        review.refresh_from_db(fields=["state", "claimed_by", "claimed_until"])
        return False
    review.claimed_by, review.claimed_until = by, until
    audit_event("fraud_guard", event, check_id=review.fraud_check.check_id, by=by, until=until, **extra)
    return True


TALLY_SETTLE = timedelta(seconds=30)  # a check's transaction commits well within this; younger ones wait a scrape
TALLY_BATCH = 50_000  # checks counted per scrape at most: a long pause between scrapes catches up in steps


def decision_tally_advance(*, now: datetime, settle: timedelta = TALLY_SETTLE, batch: int = TALLY_BATCH) -> dict:
    """Count the checks stored since the last call into ``DecisionTally`` and return every total.

    ``{(rule, decision): count}``, the same from every worker and node: the totals live in the database and
    the mark's row lock (SQLite: the write lock) lets one scrape advance at a time. Reads one primary-key range
    of at most ``batch`` checks, those older than ``settle``, so a check whose transaction has not committed
    yet is not skipped. The first call starts counting from the newest check: the totals count decisions since
    /metrics was first scraped, as a process counter counts since the process started.
    """
    with transaction.atomic():
        mark = DecisionTallyMark.objects.select_for_update().filter(pk=1).first()
        if mark is None:
            newest = FraudCheck.objects.aggregate(newest=Max("id"))["newest"] or 0
            try:
                with transaction.atomic():
                    DecisionTallyMark.objects.create(pk=1, last_check_id=newest, updated_at=now)
            except IntegrityError:  # another worker's first scrape made it
                pass
        else:
            start = mark.last_check_id
            if not FraudCheck.objects.filter(id__gt=start, id__lte=start + batch).exists():
                # a gap in the ids as wide as a batch (rolled-back inserts, a sequence's cache): step over it
                after = FraudCheck.objects.filter(id__gt=start).aggregate(after=Min("id"))["after"]
                start = after - 1 if after is not None else start
            window = FraudCheck.objects.filter(id__gt=start, id__lte=start + batch)
            upto = window.filter(created_at__lte=now - settle).aggregate(upto=Max("id"))["upto"]
            if upto is not None:
                counted = window.filter(id__lte=upto).values_list("rule", "decision").annotate(n=Count("id"))
                for rule, decision, n in counted.order_by():
                    tally = DecisionTally.objects.filter(rule=rule, decision=decision)
                    if not tally.update(count=F("count") + n):
                        DecisionTally.objects.create(rule=rule, decision=decision, count=n)
                DecisionTallyMark.objects.filter(pk=1).update(last_check_id=upto, updated_at=now)
        return {(t.rule, t.decision): t.count for t in DecisionTally.objects.order_by("rule", "decision")}
