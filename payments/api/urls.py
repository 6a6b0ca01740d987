from django.urls import path

from . import views

urlpatterns = [
    path("balance", views.BalanceApi.as_view(), name="balance"),
    path("balance/top-ups", views.TopUpCreateApi.as_view(), name="balance-top-ups"),
    path("orders/<str:no>/pay", views.OrderPayApi.as_view(), name="order-pay"),
    path("orders/<str:no>/pay/sync", views.OrderPaySyncApi.as_view(), name="order-pay-sync"),
    path(
        "payments/wechat/notify",
        views.WechatPaymentNotifyApi.as_view(),
        name="wechat-pay-notify",
    ),
    path(
        "payments/wechat/refund-notify",
        views.WechatRefundNotifyApi.as_view(),
        name="wechat-refund-notify",
    ),
]
