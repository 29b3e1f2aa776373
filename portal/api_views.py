from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.selectors import portal_link_get
from portal.serializers import LinkInput, LinkOutput, RevokeInput, RevokeOutput
from portal.services import portal_email_revoke, portal_link_request, portal_link_revoke


class LinkCreateView(APIView):
    """Issue a signed link to the customer portal for one email (rate limited per key and per email).

    Every answer is ``Cache-Control: no-store``: a link is a credential, kept by no cache.
    """

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(
        operation_id="portal_link_create",
        summary="Create a signed link to a customer's portal",
        request=LinkInput,
        responses={200: LinkOutput},
        examples=[
            OpenApiExample(
                "A link for a day", value={"email": "ada@example.com", "expiry_hours": 24}, request_only=True
            )
        ],
    )
    def post(self, request):
        data = LinkInput(data=request.data)
        data.is_valid(raise_exception=True)
        link, path = portal_link_request(**data.validated_data, created_by=request.user.label)
        return Response(LinkOutput({"link": link, "url": path}).data)


class RevokeView(APIView):
    """Revoke one link (link_id) or every link of an email (email); they stop working at once."""

    @extend_schema(
        operation_id="portal_link_revoke",
        summary="Revoke one portal link or every link of an email",
        request=RevokeInput,
        responses={200: RevokeOutput},
        examples=[
            OpenApiExample("Every link of an email", value={"email": "ada@example.com"}, request_only=True),
            OpenApiExample("One link", value={"link_id": "pl_3f9c2a7b1e4d5c6a8b9e0f12"}, request_only=True),
        ],
    )
    def post(self, request):
        data = RevokeInput(data=request.data)
        data.is_valid(raise_exception=True)
        if "email" in data.validated_data:
            revoked = portal_email_revoke(email=data.validated_data["email"], revoked_by=request.user.label)
        else:
            link = portal_link_get(link_id=data.validated_data["link_id"])
            revoked = portal_link_revoke(link=link, revoked_by=request.user.label)
        return Response(RevokeOutput({"revoked": revoked}).data)
