from django.urls import path

from fraud import views

urlpatterns = [
    path("fraud/check", views.CheckView.as_view(), name="fraud-check"),
    path("fraud/checks/<id:check_id>", views.CheckDetailView.as_view(), name="fraud-check-detail"),
    path("fraud/checks/<id:check_id>/review", views.CheckReviewView.as_view(), name="fraud-check-review"),
    path("fraud/rulesets", views.RuleSetListView.as_view(), name="fraud-rulesets"),
    path("fraud/rulesets/<int:version>", views.RuleSetDetailView.as_view(), name="fraud-ruleset"),
    path("fraud/backtest", views.BacktestView.as_view(), name="fraud-backtest"),
    path("fraud/backtest/<id:job_id>", views.BacktestJobView.as_view(), name="fraud-backtest-job"),
]
