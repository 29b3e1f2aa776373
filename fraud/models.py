import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


def new_check_id() -> str:
    return "fc_" + secrets.token_hex(10)


class Decision(models.TextChoices):
    ALLOW = "allow"
    BLOCK = "block"
    REVIEW = "review"


class FraudCheck(models.Model):
    """One decision of the fraud guard, with everything that explains it.

    ``card_key`` is what "the same card" means for velocity: the card
    fingerprint when given, else the email's ``email_key``. ``email_key`` is
    the email the guard counts under (``fraud.rules.canonical_email``); ``email``
    stays as the caller sent it. Rows are never changed after they
    are written; a review lives in ``FraudReview``.
    """

    check_id = models.CharField(max_length=32, unique=True, default=new_check_id, editable=False)
    email = models.CharField(max_length=254)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    card_type = models.CharField(max_length=10)
    card_fingerprint = models.CharField(max_length=64, blank=True)
    card_key = models.CharField(max_length=300, editable=False)
    email_key = models.CharField(max_length=254, default="", editable=False)
    ip = models.GenericIPAddressField(null=True, blank=True, help_text="The customer's IP address, when sent.")
    payment_ref = models.CharField(max_length=255, blank=True, help_text="The caller's payment id.")
    payment = models.ForeignKey("payments.Payment", null=True, blank=True, on_delete=models.SET_NULL)
    caller_recent_count = models.PositiveIntegerField(null=True, blank=True)
    caller_daily_total = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    decision = models.CharField(max_length=10, choices=Decision.choices)
    reason = models.CharField(max_length=100)
    rule = models.CharField(max_length=30)
    observed = models.JSONField(default=dict)
    limit = models.CharField(max_length=50, blank=True)
    ruleset_version = models.CharField(max_length=30)
    # What the rule set running in shadow (``RuleSet.shadow``) would have decided; empty when none ran.
    shadow_version = models.CharField(max_length=30, blank=True, default="")
    shadow_decision = models.CharField(max_length=10, choices=Decision.choices, blank=True, default="")
    shadow_reason = models.CharField(max_length=100, blank=True, default="")
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("review_fraudcheck", "Can open, approve and reject reviews of fraud checks")]
        constraints = [
            models.UniqueConstraint(
                fields=["payment_ref"], condition=~Q(payment_ref=""), name="fraud_check_payment_id_unique"
            )
        ]
        indexes = [
            models.Index(fields=["card_key", "created_at"], name="fraud_card_time"),
            models.Index(fields=["email_key", "created_at"], name="fraud_email_key_time"),
            models.Index(fields=["ip", "created_at"], name="fraud_ip_time", condition=Q(ip__isnull=False)),
            models.Index(fields=["created_at"], name="fraud_time"),
            models.Index(
                fields=["shadow_version", "decision", "shadow_decision"],
                name="fraud_shadow",
                condition=~Q(shadow_version=""),
            ),
        ]

    def __str__(self):
        return f"{self.check_id} {self.decision}"


class FraudReview(models.Model):
    """Manual review of a check.

    Opened automatically for a ``review`` decision (reason ``rule``) or by an
    operator on any check (``manual``). It is closed once, as ``approved`` or
    ``rejected``: the close is a conditional update on ``state='open'``, so two
    reviewers acting at once cannot both close it.

    A reviewer who opens an open review in the admin claims it for
    ``fraud.services.CLAIM_FOR`` (``claimed_by`` until ``claimed_until``); others
    see the claim and may take it over explicitly. A claim past its time is no
    claim. Claims are conditional updates too (``fraud_review_claim``).
    """

    class State(models.TextChoices):
        OPEN = "open"
        APPROVED = "approved"
        REJECTED = "rejected"

    class Opened(models.TextChoices):
        RULE = "rule"
        MANUAL = "manual"

    class Resolution(models.TextChoices):
        FRAUD = "fraud"
        CUSTOMER_REQUEST = "customer_request"
        OTHER = "other"

    fraud_check = models.OneToOneField(FraudCheck, on_delete=models.CASCADE, related_name="review")
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    opened_reason = models.CharField(max_length=10, choices=Opened.choices)
    opened_by = models.CharField(max_length=150, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    resolution = models.CharField(max_length=20, choices=Resolution.choices, blank=True)
    note = models.TextField(blank=True)
    closed_by = models.CharField(max_length=150, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=150, blank=True, editable=False)
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["state", "opened_at"], name="fraud_review_queue")]

    def __str__(self):
        return f"review of {self.fraud_check.check_id} ({self.state})"


class ListEntry(models.Model):
    """An allow or block entry for an email, an email domain or a card fingerprint."""

    class Action(models.TextChoices):
        ALLOW = "allow"
        BLOCK = "block"

    class Kind(models.TextChoices):
        EMAIL = "email"
        DOMAIN = "domain"
        CARD = "card"

    action = models.CharField(max_length=5, choices=Action.choices)
    kind = models.CharField(max_length=6, choices=Kind.choices)
    value = models.CharField(max_length=254, help_text="Stored lowercase.")
    reason = models.CharField(max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: until removed.")

    class Meta:
        verbose_name = "list entry"
        verbose_name_plural = "allow and block list"
        constraints = [models.UniqueConstraint(fields=["action", "kind", "value"], name="fraud_list_entry_unique")]
        indexes = [models.Index(fields=["kind", "value"], name="fraud_list_lookup")]

    def __str__(self):
        return f"{self.action} {self.kind} {self.value}"

    def save(self, *args, **kwargs):
        self.value = self.value.strip().lower()
        super().save(*args, **kwargs)


class RuleSet(models.Model):
    """One version of the fraud guard's rules: every threshold and list it decides by.

    Version 1 is not stored: it is the ``GUARD_*`` settings, in force whenever no
    stored version is active (a fresh install). Stored versions are numbered from 2.
    A version is edited only as a draft that never ran in shadow; after that it
    never changes again, so what a check records as its ``ruleset_version`` ("v2")
    always means the same rules. Lifecycle (``fraud.rulesets``):

    draft → active, or with ``GUARD_RULESET_APPROVAL`` on draft → pending (asked
    for by one person) → active (approved by another). Activating a version
    retires the one before; a retired version can be activated again. A draft or
    pending version may run in ``shadow``: every live check also evaluates it.
    At most one version is active and at most one in shadow (database constraints).
    """

    class State(models.TextChoices):
        DRAFT = "draft"
        PENDING = "pending", "Awaiting approval"
        ACTIVE = "active"
        RETIRED = "retired"

    version = models.PositiveIntegerField(unique=True, editable=False)
    note = models.CharField(max_length=200, help_text="What this version changes, and why.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.DRAFT, editable=False)
    based_on = models.CharField(max_length=30, blank=True, editable=False, help_text="The version it was copied from.")
    shadow = models.BooleanField(default=False, editable=False, help_text="Every live check also evaluates it.")

    block_prepaid = models.BooleanField("block prepaid cards", default=False)
    max_per_hour = models.PositiveIntegerField("checks per card per hour", default=5)
    max_amount_day = models.DecimalField("amount per email and currency per 24 h", max_digits=14, decimal_places=2)
    review_amount = models.DecimalField("review above", max_digits=14, decimal_places=2)
    email_allow = models.JSONField("always allowed emails", default=list, blank=True)
    max_cards_per_email_day = models.PositiveIntegerField("cards per email per 24 h", default=0)
    max_emails_per_card_day = models.PositiveIntegerField("emails per card per 24 h", default=0)
    max_declines_per_card_hour = models.PositiveIntegerField("declines per card per hour", default=0)
    max_per_ip_hour = models.PositiveIntegerField("checks per IP per hour", default=0)
    dot_domains = models.JSONField("domains that ignore dots", default=list, blank=True)

    created_by = models.CharField(max_length=150, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    shadow_by = models.CharField(max_length=150, blank=True, editable=False)
    shadow_at = models.DateTimeField(null=True, blank=True, editable=False)
    requested_by = models.CharField(max_length=150, blank=True, editable=False)
    requested_at = models.DateTimeField(null=True, blank=True, editable=False)
    approved_by = models.CharField(max_length=150, blank=True, editable=False)
    activated_by = models.CharField(max_length=150, blank=True, editable=False)
    activated_at = models.DateTimeField(null=True, blank=True, editable=False)
    retired_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "rule set"
        ordering = ["-version"]
        permissions = [
            ("activate_ruleset", "Can activate a rule set (or request its activation)"),
            ("approve_ruleset", "Can approve another person's rule set activation"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["state"], condition=Q(state="active"), name="fraud_one_active_ruleset"),
            models.UniqueConstraint(fields=["shadow"], condition=Q(shadow=True), name="fraud_one_shadow_ruleset"),
        ]

    def __str__(self):
        return f"{self.label} ({self.get_state_display()})"

    @property
    def label(self) -> str:
        return f"v{self.version}"

    @property
    def editable(self) -> bool:
        """Only a draft that never ran in shadow changes: shadow decisions stored under its label stay its own."""
        return self.state == self.State.DRAFT and self.shadow_at is None


def new_job_id() -> str:
    return "bt_" + secrets.token_hex(10)


class BacktestRun(models.Model):
    """A backtest asked for in the admin or the API: the proposed rules, the history's start, and the report.

    Small histories are replayed at once; larger ones by a task (``fraud.tasks.backtest_run``),
    polled by ``job_id``. A run that fails keeps its error.
    """

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    job_id = models.CharField(max_length=32, unique=True, default=new_job_id, editable=False)
    ruleset = models.ForeignKey(RuleSet, null=True, blank=True, on_delete=models.CASCADE, related_name="backtests")
    rules = models.JSONField(help_text="The proposed rules (RuleConfig.as_dict).")
    current = models.JSONField(help_text="The rules in force when it was asked for, replayed beside them.")
    current_version = models.CharField(max_length=30)
    since = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    checks = models.PositiveIntegerField(default=0, help_text="Stored checks in the history when it was asked for.")
    report = models.JSONField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    requested_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "backtest"
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.job_id} {self.state}"


class DecisionTally(models.Model):
    """Fraud decisions counted per rule and outcome since /metrics was first scraped: a Prometheus counter.

    Written only at scrape time by ``fraud.services.decision_tally_advance``, which adds the checks stored
    since ``DecisionTallyMark.last_check_id``; never by the check itself, so the guard's hot path writes no
    shared row. Only ever grows: checks deleted by retention were counted before and are never recounted.
    """

    rule = models.CharField(max_length=30)
    decision = models.CharField(max_length=10, choices=Decision.choices)
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "decision"], name="fraud_tally_rule_decision")]

    def __str__(self):
        return f"{self.rule} {self.decision} {self.count}"


class DecisionTallyMark(models.Model):
    """One row: the id of the last check counted into ``DecisionTally`` (its lock serialises scrapes)."""

    last_check_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"counted up to check {self.last_check_id}"
