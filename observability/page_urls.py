"""Pages outside /api/: the staff dashboard and the Prometheus endpoint."""

from django.urls import path

from observability import views

urlpatterns = [
    path("dashboard/", views.dashboard_view, name="dashboard"),
    path("metrics", views.metrics_view, name="metrics"),
]
