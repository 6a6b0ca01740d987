"""Coupons shopper API: the claim centre, claiming, redeem codes, my wallet, and which of my
coupons this checkout can use (and why not). Always scoped to request.user (the Member)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mall.errors import (
    CartEmpty,
    CouponCodeInvalid,
    CouponCodeUsed,
    CouponExpired,
    CouponLimitReached,
    CouponNotFound,
    CouponSoldOut,
    DeliveryUnavailable,
    OutOfStock,
    ProductUnavailable,
    PromotionUnavailable,
)
from mall.openapi import errors
from mall.pagination import PagePagination
from orders.checkout_input import CheckoutInputSerializer
from orders.selectors import checkout_quote

from ..models import Coupon, CouponTemplate
from ..services import coupons as services


# --- serializers ---
class CouponTemplateOutputSerializer(serializers.ModelSerializer):
    # Plain strings, not enums: "kind"/"scope" name other choice sets in the schema too.
    kind = serializers.CharField(help_text="full_reduction | discount | cash | exchange | shipping")
    kind_label = serializers.CharField(source="get_kind_display")
    scope = serializers.CharField(help_text="all | categories | products")
    validity = serializers.CharField(help_text="fixed (starts_at–ends_at) | relative (valid_days)")

    class Meta:
        model = CouponTemplate
        fields = [
            "id",
            "name",
            "description",
            "kind",
            "kind_label",
            "threshold_fen",
            "amount_fen",
            "rate_bp",
            "cap_fen",
            "sku_id",
            "scope",
            "validity",
            "starts_at",
            "ends_at",
            "valid_days",
            "stackable_with_campaigns",
        ]


class CouponClaimableOutputSerializer(CouponTemplateOutputSerializer):
    per_member_limit = serializers.IntegerField()
    claimed = serializers.IntegerField(help_text="how many of it I hold (claims and codes)")
    remaining = serializers.SerializerMethodField(help_text="left to issue; null: unlimited")
    state = serializers.SerializerMethodField(help_text="ok | sold_out | limit_reached")
    can_claim = serializers.SerializerMethodField()

    class Meta(CouponTemplateOutputSerializer.Meta):
        fields = [
            *CouponTemplateOutputSerializer.Meta.fields,
            "per_member_limit",
            "claimed",
            "remaining",
            "state",
            "can_claim",
        ]

    def get_remaining(self, template: CouponTemplate) -> int | None:
        if template.total_quantity is None:
            return None
        return max(0, template.total_quantity - template.issued_count)

    def get_state(self, template: CouponTemplate) -> str:
        return services.coupon_template_claim_state(template)

    def get_can_claim(self, template: CouponTemplate) -> bool:
        return services.coupon_template_claim_state(template) == "ok"


class CouponClaimablePageOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = CouponClaimableOutputSerializer(many=True)


class CouponOutputSerializer(serializers.ModelSerializer):
    template = CouponTemplateOutputSerializer()
    status = serializers.SerializerMethodField(help_text="unused | locked | used | expired")
    received_at = serializers.DateTimeField(source="created_at")
    source = serializers.CharField(
        help_text="claim | merchant | code | spend | journey | referral | points_mall"
    )

    class Meta:
        model = Coupon
        fields = [
            "id",
            "status",
            "template",
            "valid_from",
            "valid_until",
            "source",
            "received_at",
            "used_at",
            "order_id",
        ]

    def get_status(self, coupon: Coupon) -> str:
        return coupon.display_status(self.context.get("now"))


class CouponPageOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = CouponOutputSerializer(many=True)


class CouponRedeemInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64, trim_whitespace=True)


class CouponCheckoutOptionOutputSerializer(serializers.Serializer):
    coupon = CouponOutputSerializer()
    usable = serializers.BooleanField()
    amount_fen = serializers.IntegerField(help_text="what it would take off (0 when unusable)")
    reason = serializers.CharField(
        source="unusable_reason", allow_null=True, help_text="why it cannot be used; null if usable"
    )
    is_best = serializers.BooleanField()


class CouponCheckoutOptionsOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = CouponCheckoutOptionOutputSerializer(many=True)


# --- views ---
class CouponAvailableListApi(APIView):
    @extend_schema(
        tags=["coupons"],
        summary="The claim centre (领券中心): coupons I can claim, with whether I still can",
        parameters=[
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses={200: CouponClaimablePageOutputSerializer, **errors("not_authenticated")},
    )
    def get(self, request: Request) -> Response:
        templates = services.coupon_templates_claimable(
            member_id=request.user.pk, now=timezone.now()
        )
        paginator = PagePagination()
        page = paginator.paginate_queryset(templates, request, view=self)
        return paginator.get_paginated_response(
            CouponClaimableOutputSerializer(page, many=True).data
        )


class CouponClaimApi(APIView):
    @extend_schema(
        tags=["coupons"],
        summary="Claim a coupon of the claim centre",
        request=None,
        responses={
            201: CouponOutputSerializer,
            **errors(
                "not_authenticated",
                CouponNotFound,
                CouponExpired,
                CouponSoldOut,
                CouponLimitReached,
            ),
        },
    )
    def post(self, request: Request, template_id: int) -> Response:
        now = timezone.now()
        coupon = services.coupon_claim(member_id=request.user.pk, template_id=template_id, now=now)
        return Response(
            CouponOutputSerializer(coupon, context={"now": now}).data,
            status=status.HTTP_201_CREATED,
        )


class CouponRedeemApi(APIView):
    @extend_schema(
        tags=["coupons"],
        summary="Redeem a code (兑换码) for a coupon",
        request=CouponRedeemInputSerializer,
        responses={
            201: CouponOutputSerializer,
            **errors(
                "invalid",
                "not_authenticated",
                CouponCodeInvalid,
                CouponCodeUsed,
                CouponExpired,
                CouponSoldOut,
                CouponLimitReached,
            ),
        },
    )
    def post(self, request: Request) -> Response:
        data = CouponRedeemInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        now = timezone.now()
        coupon = services.coupon_code_redeem(
            member_id=request.user.pk, code=data.validated_data["code"], now=now
        )
        return Response(
            CouponOutputSerializer(coupon, context={"now": now}).data,
            status=status.HTTP_201_CREATED,
        )


class MyCouponListApi(APIView):
    @extend_schema(
        tags=["coupons"],
        summary="My coupons (我的优惠券) by tab",
        parameters=[
            OpenApiParameter(
                "status",
                OpenApiTypes.STR,
                enum=list(services.WALLET_TABS),
                description="usable (default): unused and not expired, soonest to expire first; "
                "used: used or held by an unpaid order; expired",
            ),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses={200: CouponPageOutputSerializer, **errors("invalid", "not_authenticated")},
    )
    def get(self, request: Request) -> Response:
        tab = request.query_params.get("status") or "usable"
        if tab not in services.WALLET_TABS:
            raise exceptions.ValidationError(
                {"status": [f"one of {', '.join(services.WALLET_TABS)}"]}
            )
        now = timezone.now()
        paginator = PagePagination()
        page = paginator.paginate_queryset(
            services.coupons_for_member(member_id=request.user.pk, tab=tab, now=now),
            request,
            view=self,
        )
        return paginator.get_paginated_response(
            CouponOutputSerializer(page, many=True, context={"now": now}).data
        )


class CouponForCheckoutApi(APIView):
    @extend_schema(
        tags=["coupons"],
        summary="My coupons for this checkout: usable ones first (with what each takes off), "
        "then the others with the reason",
        description="Same body as POST checkout/preview; its coupon_id, points and balance_fen "
        "are ignored (the lines are priced with the campaigns, without a coupon).",
        request=CheckoutInputSerializer,
        responses={
            200: CouponCheckoutOptionsOutputSerializer,
            **errors(
                "invalid",
                "not_authenticated",
                CartEmpty,
                ProductUnavailable,
                OutOfStock,
                DeliveryUnavailable,
                PromotionUnavailable,
            ),
        },
    )
    def post(self, request: Request) -> Response:
        data = CheckoutInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        now = timezone.now()
        checkout = replace(data.to_checkout(), coupon_id=0, points=0, balance_fen=0)
        _, quote = checkout_quote(member=request.user, checkout=checkout, now=now)
        options = services.coupons_checkout_options(
            member_id=request.user.pk,
            lines=quote.lines,
            shipping_hint_fen=quote.shipping_fen,
            now=now,
        )
        best = options[0] if options and options[0].usable and options[0].amount_fen else None
        results: list[dict[str, Any]] = [
            {
                "coupon": option.coupon,
                "usable": option.usable,
                "amount_fen": option.amount_fen,
                "unusable_reason": option.unusable_reason,
                "is_best": option is best,
            }
            for option in options
        ]
        body = {
            "count": len(results),
            "next": None,
            "previous": None,
            "results": CouponCheckoutOptionOutputSerializer(
                results, many=True, context={"now": now}
            ).data,
        }
        return Response(body)
