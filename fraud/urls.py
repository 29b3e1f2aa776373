from django.urls import path

from fraud import views

urlpatterns = [
    path("fraud/check", views.CheckView.as_view(), name="fraud-check"),
    path("fraud/checks/<id:check_id>", views.CheckDetailView.as_view(), name="fraud-check-detail"),
    path("fraud/checks/<id:check_id>/review", views.CheckReviewView.as_view(), name="fraud-check-review"),
]
