from django.urls import path

from portal import views

urlpatterns = [
    path("portal", views.link_open, name="portal-open"),
    path("portal/", views.home, name="portal-home"),
    path("portal/receipts/<id:provider_id>/", views.receipt, name="portal-receipt"),
    path("portal/receipts/<id:provider_id>/send", views.receipt_send, name="portal-receipt-send"),
    path("portal/sign-out", views.sign_out, name="portal-sign-out"),
]
