from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from fraud.selectors import fraud_check_get
from fraud.serializers import CheckInput, CheckOutput, ReviewInput, check_to_dict
from fraud.services import fraud_check_create, fraud_review_act


class CheckView(APIView):
    @extend_schema(operation_id="fraud_check", request=CheckInput, responses={200: CheckOutput})
    def post(self, request):
        data = CheckInput(data=request.data)
        data.is_valid(raise_exception=True)
        check = fraud_check_create(**data.validated_data, created_by=request.user.label)
        return Response(check_to_dict(check))


class CheckDetailView(APIView):
    @extend_schema(operation_id="fraud_check_detail", responses={200: CheckOutput})
    def get(self, request, check_id):
        check = fraud_check_get(check_id=check_id)
        return Response(check_to_dict(check))


class CheckReviewView(APIView):
    @extend_schema(operation_id="fraud_check_review", request=ReviewInput, responses={200: CheckOutput})
    def post(self, request, check_id):
        # One read: the check and its review. The service keeps both up to date
        # in memory, so the answer needs no second read.
        check = fraud_check_get(check_id=check_id)
        data = ReviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        fraud_review_act(check=check, **data.validated_data, by=request.user.label)
        return Response(check_to_dict(check))
