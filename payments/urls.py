from django.urls import path

from payments import views

urlpatterns = [
    path("webhooks/stripe", views.StripeWebhookView.as_view(), name="webhooks-stripe"),
    path("payments", views.PaymentListView.as_view(), name="payments"),
    path("payments/<id:provider_id>", views.PaymentDetailView.as_view(), name="payment"),
]
