"""Points mall shopper API: the items, and exchanging points for a coupon item. A SKU item is
exchanged with `POST /api/v1/orders` and `promotion: {"kind": "points_mall", "id": <item id>}`."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mall.errors import (
    CouponExpired,
    CouponNotFound,
    CouponSoldOut,
    PointsInsufficient,
    PointsMallItemUnavailable,
    PointsMallLimitReached,
    PointsMallSoldOut,
)
from mall.idempotency import idempotency_key, idempotency_key_parameter
from mall.openapi import errors
from mall.pagination import PagePagination

from ..models import PointsMallExchange, PointsMallItem
from ..services import points_mall as services


def _url(field_file: Any) -> str:
    return field_file.url if field_file else ""


class PointsMallItemOutputSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(help_text="sku (exchanged through POST /orders) | coupon")
    sku_id = serializers.IntegerField(allow_null=True)
    product_id = serializers.SerializerMethodField()
    price_fen = serializers.SerializerMethodField(help_text="the SKU's normal price (SKU items)")
    image = serializers.SerializerMethodField()
    coupon_template_id = serializers.IntegerField(allow_null=True)
    coupon_name = serializers.SerializerMethodField()
    in_stock = serializers.SerializerMethodField()

    class Meta:
        model = PointsMallItem
        fields = [
            "id",
            "title",
            "kind",
            "points",
            "cash_fen",
            "per_member_limit",
            "in_stock",
            "exchanged_count",
            "sku_id",
            "product_id",
            "price_fen",
            "image",
            "coupon_template_id",
            "coupon_name",
        ]

    def get_product_id(self, item: PointsMallItem) -> int | None:
        return item.sku.product_id if item.sku_id else None

    def get_price_fen(self, item: PointsMallItem) -> int | None:
        return item.sku.price_fen if item.sku_id else None

    def get_image(self, item: PointsMallItem) -> str:
        if not item.sku_id:
            return ""
        product = item.sku.product
        return _url(item.sku.image) or _url(product.main_image_thumb) or _url(product.main_image)

    def get_coupon_name(self, item: PointsMallItem) -> str:
        return item.coupon_template.name if item.coupon_template_id else ""

    def get_in_stock(self, item: PointsMallItem) -> bool:
        return item.stock > 0


class PointsMallItemPageOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = PointsMallItemOutputSerializer(many=True)


class PointsMallExchangeOutputSerializer(serializers.ModelSerializer):
    status = serializers.CharField(help_text="held | done | released | refunded")
    coupon_id = serializers.IntegerField(allow_null=True)

    class Meta:
        model = PointsMallExchange
        fields = ["id", "item_id", "quantity", "points", "cash_fen", "status", "coupon_id"]


class PointsMallItemListApi(APIView):
    @extend_schema(
        tags=["points-mall"],
        summary="Points mall items",
        parameters=[
            OpenApiParameter("kind", OpenApiTypes.STR, enum=["sku", "coupon"], required=False)
        ],
        responses={200: PointsMallItemPageOutputSerializer, **errors("not_authenticated")},
    )
    def get(self, request: Request) -> Response:
        items = services.points_mall_items_for_sale()
        kind = request.query_params.get("kind")
        if kind in PointsMallItem.Kind.values:
            items = items.filter(kind=kind)
        paginator = PagePagination()
        page = paginator.paginate_queryset(items, request, view=self)
        return paginator.get_paginated_response(
            PointsMallItemOutputSerializer(page, many=True).data
        )


class PointsMallCouponExchangeApi(APIView):
    @extend_schema(
        tags=["points-mall"],
        summary="Exchange points for a coupon item",
        description="Points spent and the coupon issued at once. A repeated Idempotency-Key "
        "answers the first exchange (200). SKU items are exchanged through POST /orders.",
        request=None,
        parameters=[idempotency_key_parameter("exchange attempt")],
        responses={
            201: PointsMallExchangeOutputSerializer,
            200: PointsMallExchangeOutputSerializer,
            **errors(
                "invalid",
                "not_authenticated",
                PointsMallItemUnavailable,
                PointsMallSoldOut,
                PointsMallLimitReached,
                PointsInsufficient,
                CouponNotFound,
                CouponExpired,
                CouponSoldOut,
            ),
        },
    )
    def post(self, request: Request, item_id: int) -> Response:
        client_token = idempotency_key(request)
        exchange, created = services.points_mall_coupon_exchange(
            member=request.user, item_id=item_id, client_token=client_token
        )
        return Response(
            PointsMallExchangeOutputSerializer(exchange).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
