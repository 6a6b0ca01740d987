"""Shopper API: cart, addresses, pickup points, checkout, orders. Always scoped to request.user
(the Member); another member's object is a 404."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mall.errors import (
    AddressLimitReached,
    BalanceUnavailable,
    CartEmpty,
    CartFull,
    CouponUnavailable,
    DeliveryUnavailable,
    IdempotencyKeyReused,
    OrderStatusInvalid,
    OutOfStock,
    PointsUnavailable,
    PriceChanged,
    ProductUnavailable,
    PromotionUnavailable,
)
from mall.idempotency import idempotency_key, idempotency_key_parameter
from mall.openapi import errors
from mall.pagination import PagePagination

from .. import selectors, services
from ..pricing import quote_as_breakdown
from .serializers import (
    AddressInputSerializer,
    AddressListOutputSerializer,
    AddressOutputSerializer,
    BuyAgainOutputSerializer,
    CartItemCreateInputSerializer,
    CartItemUpdateInputSerializer,
    CartLineOutputSerializer,
    CartOutputSerializer,
    CheckoutInputSerializer,
    CheckoutPreviewOutputSerializer,
    OrderCancelInputSerializer,
    OrderCreateInputSerializer,
    OrderDetailOutputSerializer,
    OrderListItemOutputSerializer,
    OrderListOutputSerializer,
    PickupPointListOutputSerializer,
    PickupPointOutputSerializer,
    order_detail_output,
)

CHECKOUT_ERRORS = (
    "invalid",
    "not_authenticated",
    CartEmpty,
    ProductUnavailable,
    OutOfStock,
    DeliveryUnavailable,
    CouponUnavailable,
    PointsUnavailable,
    BalanceUnavailable,
    PromotionUnavailable,
)


PAGE_SIZE = 10  # the order list and the pickup points


class MemberApi(APIView):
    """Scoped lookups raise DoesNotExist for other members' objects: answer not_found."""

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, ObjectDoesNotExist):
            exc = exceptions.NotFound()
        return super().handle_exception(exc)


def _all_results(results: list[Any]) -> dict[str, Any]:
    """The list envelope for small bounded lists (one page holds them all)."""
    return {"count": len(results), "next": None, "previous": None, "results": results}


# --- cart ---
def _cart_response(request: Request, response_status: int = status.HTTP_200_OK) -> Response:
    cart = selectors.cart_view_for_member(member=request.user)
    body = _all_results(CartLineOutputSerializer(cart.lines, many=True).data) | {
        "totals": {
            "selected_count": cart.selected_count,
            "selected_quantity": cart.selected_quantity,
            "selected_goods_fen": cart.selected_goods_fen,
        }
    }
    return Response(body, status=response_status)


class CartItemListApi(MemberApi):
    @extend_schema(
        tags=["cart"],
        summary="The cart: lines with current price and state, totals of selected lines",
        responses={200: CartOutputSerializer, **errors("not_authenticated")},
    )
    def get(self, request: Request) -> Response:
        return _cart_response(request)

    @extend_schema(
        tags=["cart"],
        summary="Add a SKU (merges with the line already in the cart); answers the cart",
        request=CartItemCreateInputSerializer,
        responses={
            201: CartOutputSerializer,
            **errors("invalid", "not_authenticated", ProductUnavailable, OutOfStock, CartFull),
        },
    )
    def post(self, request: Request) -> Response:
        data = CartItemCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.cart_item_add(member=request.user, **data.validated_data)
        return _cart_response(request, status.HTTP_201_CREATED)


class CartItemDetailApi(MemberApi):
    @extend_schema(
        tags=["cart"],
        summary="Change a line's quantity or selection; answers the cart",
        request=CartItemUpdateInputSerializer,
        responses={
            200: CartOutputSerializer,
            **errors("invalid", "not_authenticated", "not_found", OutOfStock),
        },
    )
    def patch(self, request: Request, item_id: int) -> Response:
        data = CartItemUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.cart_item_update(member=request.user, item_id=item_id, **data.validated_data)
        return _cart_response(request)

    @extend_schema(
        tags=["cart"],
        summary="Remove a line",
        responses={204: None, **errors("not_authenticated", "not_found")},
    )
    def delete(self, request: Request, item_id: int) -> Response:
        services.cart_item_delete(member=request.user, item_id=item_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- addresses ---
class AddressListApi(MemberApi):
    @extend_schema(
        tags=["addresses"],
        summary="The member's addresses (at most 20), default first",
        responses={200: AddressListOutputSerializer, **errors("not_authenticated")},
    )
    def get(self, request: Request) -> Response:
        addresses = selectors.address_list_for_member(member=request.user)
        return Response(_all_results(AddressOutputSerializer(addresses, many=True).data))

    @extend_schema(
        tags=["addresses"],
        summary="Add an address (the first one, or is_default=true, becomes the default)",
        request=AddressInputSerializer,
        responses={
            201: AddressOutputSerializer,
            **errors("invalid", "not_authenticated", AddressLimitReached),
        },
    )
    def post(self, request: Request) -> Response:
        data = AddressInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        address = services.address_create(member=request.user, **data.validated_data)
        return Response(AddressOutputSerializer(address).data, status=status.HTTP_201_CREATED)


class AddressDetailApi(MemberApi):
    @extend_schema(
        tags=["addresses"],
        summary="Change an address",
        request=AddressInputSerializer(partial=True),
        responses={
            200: AddressOutputSerializer,
            **errors("invalid", "not_authenticated", "not_found"),
        },
    )
    def patch(self, request: Request, address_id: int) -> Response:
        data = AddressInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        address = services.address_update(
            member=request.user, address_id=address_id, **data.validated_data
        )
        return Response(AddressOutputSerializer(address).data)

    @extend_schema(
        tags=["addresses"],
        summary="Delete an address (the newest other one becomes the default)",
        responses={204: None, **errors("not_authenticated", "not_found")},
    )
    def delete(self, request: Request, address_id: int) -> Response:
        services.address_delete(member=request.user, address_id=address_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PickupPointListApi(MemberApi):
    @extend_schema(
        tags=["addresses"],
        summary="Active pickup points (自提点)",
        parameters=[
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses={
            200: PickupPointListOutputSerializer,
            **errors("not_authenticated"),
        },
    )
    def get(self, request: Request) -> Response:
        paginator = PagePagination(page_size=PAGE_SIZE)
        page = paginator.paginate_queryset(selectors.pickup_point_list(), request, view=self)
        return paginator.get_paginated_response(PickupPointOutputSerializer(page, many=True).data)


# --- checkout ---
class CheckoutPreviewApi(MemberApi):
    @extend_schema(
        tags=["checkout"],
        summary="Price breakdown for lines (or the cart's selected lines) and a delivery choice",
        request=CheckoutInputSerializer,
        responses={200: CheckoutPreviewOutputSerializer, **errors(*CHECKOUT_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        data = CheckoutInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        _, quote = selectors.checkout_quote(
            member=request.user, checkout=data.to_checkout(), now=timezone.now()
        )
        items = [
            {
                "sku_id": line.sku_id,
                "product_id": line.product_id,
                "title": line.title,
                "spec_text": line.spec_text,
                "image_url": line.image_url,
                "unit_price_fen": line.unit_price_fen,
                "quantity": line.quantity,
            }
            for line in quote.lines
        ]
        return Response(
            quote_as_breakdown(quote) | {"delivery_type": quote.delivery.type, "items": items}
        )


# --- orders ---
def _order_detail(request: Request, no: str) -> dict[str, Any]:
    return order_detail_output(selectors.order_get_for_member(member=request.user, no=no))


class OrderListApi(MemberApi):
    @extend_schema(
        tags=["orders"],
        operation_id="orders_list",
        summary="The member's orders, newest first, with the count of each tab",
        parameters=[
            OpenApiParameter(
                "status",
                OpenApiTypes.STR,
                enum=list(selectors.ORDER_TABS),
                description="tab: completed = received and completed",
            ),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses={200: OrderListOutputSerializer, **errors("invalid", "not_authenticated")},
    )
    def get(self, request: Request) -> Response:
        tab = request.query_params.get("status") or None
        if tab is not None and tab not in selectors.ORDER_TABS:
            raise exceptions.ValidationError(
                {"status": [f"one of {', '.join(selectors.ORDER_TABS)}"]}
            )
        paginator = PagePagination(page_size=PAGE_SIZE)
        page = paginator.paginate_queryset(
            selectors.order_list_for_member(member=request.user, status=tab), request, view=self
        )
        response = paginator.get_paginated_response(
            OrderListItemOutputSerializer(page, many=True).data
        )
        response.data["counts"] = selectors.order_counts_for_member(member=request.user)
        return response

    @extend_schema(
        tags=["orders"],
        summary="Create an order (same body as the preview + expected_payable_fen)",
        description="A repeated Idempotency-Key with the same body answers the first order (200).",
        request=OrderCreateInputSerializer,
        parameters=[idempotency_key_parameter("order attempt")],
        responses={
            201: OrderDetailOutputSerializer,
            200: OrderDetailOutputSerializer,
            **errors(*CHECKOUT_ERRORS, PriceChanged, IdempotencyKeyReused),
        },
    )
    def post(self, request: Request) -> Response:
        client_token = idempotency_key(request)
        data = OrderCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order, created = services.order_create(
            member=request.user,
            client_token=client_token,
            checkout=data.to_checkout(),
            expected_payable_fen=data.validated_data["expected_payable_fen"],
            note=data.validated_data["note"],
        )
        if created:  # the new order carries its lines and log: answer without reading it back
            return Response(order_detail_output(order), status=status.HTTP_201_CREATED)
        return Response(_order_detail(request, order.no))


class OrderDetailApi(MemberApi):
    @extend_schema(
        tags=["orders"],
        operation_id="orders_retrieve",
        summary="An order: breakdown, lines, timeline; the pickup code while waiting for pickup",
        responses={
            200: OrderDetailOutputSerializer,
            **errors("not_authenticated", "not_found"),
        },
    )
    def get(self, request: Request, no: str) -> Response:
        return Response(_order_detail(request, no))

    @extend_schema(
        tags=["orders"],
        summary="Remove a cancelled, completed or closed order from the list (soft)",
        responses={204: None, **errors("not_authenticated", "not_found", OrderStatusInvalid)},
    )
    def delete(self, request: Request, no: str) -> Response:
        order = selectors.order_get_for_member(member=request.user, no=no)
        services.order_delete_by_member(member=request.user, order_id=order.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class OrderCancelApi(MemberApi):
    @extend_schema(
        tags=["orders"],
        summary="Cancel an unpaid order (stock comes back)",
        request=OrderCancelInputSerializer,
        responses={
            200: OrderDetailOutputSerializer,
            **errors("invalid", "not_authenticated", "not_found", OrderStatusInvalid),
        },
    )
    def post(self, request: Request, no: str) -> Response:
        data = OrderCancelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = selectors.order_get_for_member(member=request.user, no=no)
        services.order_cancel(
            order_id=order.pk,
            actor=services.member_actor(request.user),
            reason=data.validated_data["reason"] or "买家取消",
        )
        return Response(_order_detail(request, no))


class OrderReceiveApi(MemberApi):
    @extend_schema(
        tags=["orders"],
        summary="Confirm receipt of a shipped order",
        request=None,
        responses={
            200: OrderDetailOutputSerializer,
            **errors("not_authenticated", "not_found", OrderStatusInvalid),
        },
    )
    def post(self, request: Request, no: str) -> Response:
        order = selectors.order_get_for_member(member=request.user, no=no)
        services.order_receive(order_id=order.pk, actor=services.member_actor(request.user))
        return Response(_order_detail(request, no))


class OrderBuyAgainApi(MemberApi):
    @extend_schema(
        tags=["orders"],
        summary="Put an order's lines back in the cart; reports the lines that cannot be bought",
        request=None,
        responses={200: BuyAgainOutputSerializer, **errors("not_authenticated", "not_found")},
    )
    def post(self, request: Request, no: str) -> Response:
        order = selectors.order_get_for_member(member=request.user, no=no)
        result = services.order_buy_again(member=request.user, order_id=order.pk)
        return Response({"added": result.added, "unavailable": result.unavailable})
