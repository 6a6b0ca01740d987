from django.urls import path

from . import views

urlpatterns = [
    path("cart/items", views.CartItemListApi.as_view(), name="cart-items"),
    path("cart/items/<int:item_id>", views.CartItemDetailApi.as_view(), name="cart-item"),
    path("addresses", views.AddressListApi.as_view(), name="addresses"),
    path("addresses/<int:address_id>", views.AddressDetailApi.as_view(), name="address"),
    path("pickup-points", views.PickupPointListApi.as_view(), name="pickup-points"),
    path("checkout/preview", views.CheckoutPreviewApi.as_view(), name="checkout-preview"),
    path("orders", views.OrderListApi.as_view(), name="orders"),
    path("orders/<str:no>", views.OrderDetailApi.as_view(), name="order"),
    path("orders/<str:no>/cancel", views.OrderCancelApi.as_view(), name="order-cancel"),
    path("orders/<str:no>/receive", views.OrderReceiveApi.as_view(), name="order-receive"),
    path("orders/<str:no>/buy-again", views.OrderBuyAgainApi.as_view(), name="order-buy-again"),
]
