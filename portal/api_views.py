from drf_spectacular.utils import extend_schema
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

    @extend_schema(operation_id="portal_link_create", request=LinkInput, responses={200: LinkOutput})
    def post(self, request):
        data = LinkInput(data=request.data)
        data.is_valid(raise_exception=True)
        link, path = portal_link_request(**data.validated_data, created_by=request.user.label)
        return Response(LinkOutput({"link": link, "url": path}).data)


class RevokeView(APIView):
    """Revoke one link (link_id) or every link of an email (email); they stop working at once."""

    @extend_schema(operation_id="portal_link_revoke", request=RevokeInput, responses={200: RevokeOutput})
    def post(self, request):
        data = RevokeInput(data=request.data)
        data.is_valid(raise_exception=True)
        if "email" in data.validated_data:
            revoked = portal_email_revoke(email=data.validated_data["email"], revoked_by=request.user.label)
        else:
            link = portal_link_get(link_id=data.validated_data["link_id"])
            revoked = portal_link_revoke(link=link, revoked_by=request.user.label)
        return Response(RevokeOutput({"revoked": revoked}).data)
