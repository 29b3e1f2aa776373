from django.urls import path

from portal import api_views

urlpatterns = [
    path("portal/link", api_views.LinkCreateView.as_view(), name="portal-link"),
    path("portal/revoke", api_views.RevokeView.as_view(), name="portal-revoke"),
]
