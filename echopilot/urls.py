from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from echopilot import views
from echopilot.auth import DashKeyAuthentication, IsApiKeyOrDocsReader, StaffSessionAuthentication

# An API key, or a staff user holding echopilot.view_api_docs (the docs open in a browser after the admin login).
_docs_access = {
    "authentication_classes": [DashKeyAuthentication, StaffSessionAuthentication],
    "permission_classes": [IsApiKeyOrDocsReader],
}

api_patterns = [
    path("whoami", views.WhoAmIView.as_view(), name="whoami"),
    path("", include("payments.urls")),
    path("", include("notifications.urls")),
    path("", include("fraud.urls")),
    path("", include("observability.urls")),
    path("", include("portal.api_urls")),
    path("schema/", SpectacularAPIView.as_view(**_docs_access), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema", **_docs_access), name="docs"),
]

urlpatterns = [
    # The root is the operators' start: the admin home (its login for others) with the work and the dashboard.
    path("", RedirectView.as_view(pattern_name="admin:index"), name="root"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("livez", views.livez, name="livez"),
    path("readyz", views.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/", include((api_patterns, "api"))),
    path("", include("observability.page_urls")),
    path("", include("portal.urls")),
    # Must stay last: unknown /api/ paths answer in the API's error shape.
    re_path(r"^api/", views.ApiNotFoundView.as_view(), name="api-not-found"),
]

handler400 = "echopilot.errors.handler400"
handler404 = "echopilot.errors.handler404"
handler500 = "echopilot.errors.handler500"
