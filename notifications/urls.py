from django.urls import path

from notifications import views

urlpatterns = [
    path("email/send", views.EmailSendView.as_view(), name="email-send"),
    path("email/<id:public_id>", views.EmailDetailView.as_view(), name="email"),
    path("telegram/webhook", views.TelegramWebhookView.as_view(), name="telegram-webhook"),
    path("webhooks/email", views.EmailTrackingWebhookView.as_view(), name="webhooks-email"),
]
