from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from echopilot.exceptions import NotFound
from echopilot.pagination import Pagination
from echopilot.schema import ErrorSerializer
from fraud.models import BacktestRun
from fraud.rulesets import (
    RuleSetVersions,
    backtest_job_create,
    backtest_job_get,
    backtest_proposal,
    ruleset_version_get,
)
from fraud.selectors import fraud_check_get
from fraud.serializers import (
    BacktestInput,
    BacktestJobResponse,
    CheckInput,
    CheckOutput,
    ReviewInput,
    RuleSetPageQuery,
    RuleSetPageSerializer,
    RuleSetResponse,
    check_to_dict,
)
from fraud.services import fraud_check_create, fraud_review_act


class CheckView(APIView):
    @extend_schema(
        operation_id="fraud_check",
        summary="Decide whether a payment may go ahead (allow, block or review)",
        request=CheckInput,
        responses={200: CheckOutput},
        examples=[
            OpenApiExample(
                "A card payment",
                value={
                    "email": "alice@example.com",
                    "amount": "49.99",
                    "card_type": "credit",
                    "card_fingerprint": "fp_abc",
                    "payment_id": "pi_1",
                },
                request_only=True,
            ),
            OpenApiExample(
                "With the caller's own counts, in another currency",
                value={
                    "email": "suspicious@test.com",
                    "amount": "120",
                    "currency": "eur",
                    "card_type": "prepaid",
                    "recent_count": 10,
                    "daily_total": "300.00",
                },
                request_only=True,
            ),
        ],
    )
    def post(self, request):
        data = CheckInput(data=request.data)
        data.is_valid(raise_exception=True)
        check = fraud_check_create(**data.validated_data, created_by=request.user.label)
        # The one API answer not rendered by its output serializer (see echopilot/serializers.py): the hot path.
        # CheckOutput documents it (and renders the GET and the review); check_to_dict builds the same JSON,
        # which tests/fraud/test_check_api.py holds equal. Measured 2026-11-29 in one process (CPU time):
        # CheckOutput(check).data 397 us per check, check_to_dict 4.6 us, against ~2 ms of Python for the whole
        # request (bench/RESULTS.md), so the serializer adds about a fifth to it, while bench/fraud_check.py's
        # ratio to its baseline has to stay >= 0.75 from 0.76. (bench/fraud_check.py itself, three runs each way
        # on a 2-core machine shared with other work, load 2 to 18: serializer 0.68, 0.77, 0.56; dict 0.75, 0.64,
        # 0.52 - noise; the CPU time above is the measurement.)
        return Response(check_to_dict(check))


class CheckDetailView(APIView):
    @extend_schema(
        operation_id="fraud_check_detail", summary="Show a fraud check and its review", responses={200: CheckOutput}
    )
    def get(self, request, check_id):
        check = fraud_check_get(check_id=check_id)
        return Response(CheckOutput(check).data)


class CheckReviewView(APIView):
    @extend_schema(
        operation_id="fraud_check_review",
        summary="Open, approve or reject a check's manual review",
        request=ReviewInput,
        examples=[
            OpenApiExample(
                "Reject as fraud",
                value={"action": "reject", "resolution": "fraud", "note": "Card reported stolen by its owner."},
                request_only=True,
            ),
            OpenApiExample(
                "Approve",
                value={"action": "approve", "note": "Customer confirmed the order by phone."},
                request_only=True,
            ),
            OpenApiExample(
                "Open a review", value={"action": "open", "note": "Unusual shipping address."}, request_only=True
            ),
        ],
        responses={
            200: CheckOutput,
            409: OpenApiResponse(
                ErrorSerializer,
                "review_exists: open, but the check already has a review; no_review: approve or reject, but it has "
                "none; review_closed: approve or reject, but its review is already closed.",
            ),
        },
    )
    def post(self, request, check_id):
        # One read: the check and its review. The service keeps both up to date
        # in memory, so the answer needs no second read.
        check = fraud_check_get(check_id=check_id)
        data = ReviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        fraud_review_act(check=check, **data.validated_data, by=request.user.label)
        return Response(CheckOutput(check).data)


class RuleSetListView(APIView):
    @extend_schema(
        operation_id="fraud_rulesets",
        summary="List the rule set versions, newest first; version 1 (the GUARD_* settings) last",
        parameters=[RuleSetPageQuery],
        responses=RuleSetPageSerializer,
    )
    def get(self, request):
        query = RuleSetPageQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = Pagination().paginate(RuleSetVersions(), request, view=self)
        return Response(RuleSetPageSerializer(page).data)


class RuleSetDetailView(APIView):
    @extend_schema(
        operation_id="fraud_ruleset",
        summary="Show one rule set version (1: the GUARD_* settings)",
        parameters=[
            OpenApiParameter(
                "version", {"type": "integer", "minimum": 1}, OpenApiParameter.PATH, description="1, 2, ..."
            )
        ],
        responses={200: RuleSetResponse, 404: OpenApiResponse(ErrorSerializer, "not_found: no such version.")},
    )
    def get(self, request, version):
        return Response(RuleSetResponse({"ruleset": ruleset_version_get(version=version)}).data)


def _job_answer(job, status):
    location = reverse("api:fraud-backtest-job", kwargs={"job_id": job.job_id})
    return Response(BacktestJobResponse({"job": job}).data, status=status, headers={"Location": location})


class BacktestView(APIView):
    @extend_schema(
        operation_id="fraud_backtest",
        summary="Backtest proposed rules on the stored checks, beside the rules in force",
        description="Replays the checks since `since` under the proposal and under the rules in force, and "
        "reports the decisions that change and, on the labelled checks, fraud caught, good payments blocked, "
        "review load and each rule's precision and recall. Up to GUARD_BACKTEST_INLINE_CHECKS checks it runs "
        "at once (201, report included); a larger history is queued as a task (202): poll the Location.",
        request=BacktestInput,
        examples=[
            OpenApiExample(
                "Lower the review threshold and turn on card testing's signal",
                value={
                    "rules": {"review_amount": "500.00", "max_declines_per_card_hour": 3},
                    "since": "2026-11-01T00:00:00Z",
                },
                request_only=True,
            ),
            OpenApiExample(
                "A version (1: the GUARD_* settings; stored ones from 2), on the past 30 days",
                value={"version": 1},
                request_only=True,
            ),
        ],
        responses={
            201: OpenApiResponse(BacktestJobResponse, "Done at once (or failed: see error); Location: the job."),
            202: OpenApiResponse(BacktestJobResponse, "Queued as a task; poll the Location."),
        },
    )
    def post(self, request):
        data = BacktestInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            rules, ruleset = backtest_proposal(version=values.get("version"), changes=values.get("rules"))
        except NotFound as missing:
            raise ValidationError({"version": [missing.message]}) from None
        job = backtest_job_create(rules=rules, since=values["since"], by=request.user.label, ruleset=ruleset)
        queued = job.state in (BacktestRun.State.QUEUED, BacktestRun.State.RUNNING)
        return _job_answer(job, status.HTTP_202_ACCEPTED if queued else status.HTTP_201_CREATED)


class BacktestJobView(APIView):
    @extend_schema(
        operation_id="fraud_backtest_job",
        summary="Show a backtest: queued, running, done (with its report) or failed (with its error)",
        responses={200: BacktestJobResponse, 404: OpenApiResponse(ErrorSerializer, "not_found: no such job.")},
    )
    def get(self, request, job_id):
        return Response(BacktestJobResponse({"job": backtest_job_get(job_id=job_id)}).data)
