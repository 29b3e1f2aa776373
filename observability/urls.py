from django.urls import path

from observability import views

urlpatterns = [
    path("observability/snapshot", views.SnapshotView.as_view(), name="observability-snapshot"),
    path("observability/snapshots", views.SnapshotListView.as_view(), name="observability-snapshots"),
    path("observability/alerts", views.AlertListView.as_view(), name="observability-alerts"),
]
