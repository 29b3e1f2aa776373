"""The admin site: the apps in the order operators work in them, and "View site" leading to the dashboard.

``OpsAdminConfig`` replaces ``django.contrib.admin`` in INSTALLED_APPS and makes ``OpsAdminSite`` the
default site, so ``admin.site`` (and every ``@admin.register``) is this one. It lives in observability,
the top app, because it names every app.
"""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.urls import reverse

# The home page and the side menu list these first, in this order; the rest (users and groups,
# django-q, axes) follow in the admin's own alphabetical order.
APP_ORDER = ["fraud", "payments", "notifications", "portal", "observability", "echopilot"]


class OpsAdminSite(admin.AdminSite):
    site_header = "EchoPilot Ops"
    site_title = "EchoPilot Ops"
    index_title = "Operations"

    def get_app_list(self, request, app_label=None):
        rank = {label: index for index, label in enumerate(APP_ORDER)}
        apps = super().get_app_list(request, app_label)
        return sorted(apps, key=lambda app: rank.get(app["app_label"], len(APP_ORDER)))  # stable: the rest keep theirs

    def each_context(self, request):
        """ "View site" goes to the dashboard, shown only to those who may open it (others would get a 403)."""
        context = super().each_context(request)
        context["site_url"] = reverse("dashboard") if request.user.has_perm("observability.view_dashboard") else None
        return context


class OpsAdminConfig(AdminConfig):
    default_site = "observability.sites.OpsAdminSite"
