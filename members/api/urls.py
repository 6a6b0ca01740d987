from django.urls import path

from . import views

urlpatterns = [
    path("auth/login", views.AuthLoginApi.as_view(), name="auth-login"),
    path("auth/phone", views.AuthPhoneApi.as_view(), name="auth-phone"),
    path("me", views.MeApi.as_view(), name="me"),
]
