from django.urls import path

from . import views, views_points, views_social

urlpatterns = [
    path("auth/login", views.AuthLoginApi.as_view(), name="auth-login"),
    path("auth/phone", views.AuthPhoneApi.as_view(), name="auth-phone"),
    path("me", views.MeApi.as_view(), name="me"),
    path("me/invite", views_social.MeInviteApi.as_view(), name="me-invite"),
    path("me/invite/wxacode", views_social.MeInviteWxacodeApi.as_view(), name="me-invite-wxacode"),
    path("signin", views_points.SignInApi.as_view(), name="signin"),
    path("signin/calendar", views_points.SignInCalendarApi.as_view(), name="signin-calendar"),
    path("tasks", views_points.TaskCardListApi.as_view(), name="task-cards"),
    path("points/ledger", views_points.PointsLedgerListApi.as_view(), name="points-ledger"),
]
