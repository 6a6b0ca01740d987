"""Campaigns shopper API: the live campaigns (the shop's promotion banner) and one campaign's
rules. Public: campaigns are the same for everyone (member-level eligibility is shown as data,
and judged at checkout)."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mall.openapi import errors
from mall.pagination import PagePagination

from ..models import Campaign, CampaignItem, CampaignTier
from ..services import campaigns as services


class CampaignTierOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = CampaignTier
        fields = ["threshold", "reduce_fen", "rate_bp"]


class CampaignItemOutputSerializer(serializers.ModelSerializer):
    price_fen = serializers.IntegerField(allow_null=True, help_text="活动价；空则按折扣率")

    class Meta:
        model = CampaignItem
        fields = ["sku_id", "price_fen", "rate_bp", "limit_per_member"]


class CampaignOutputSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(
        help_text="full_reduction | full_discount | limited_time | n_for_price | buy_gift"
    )
    kind_label = serializers.CharField(source="get_kind_display")
    scope = serializers.CharField(help_text="all | categories | products")
    threshold_type = serializers.CharField(help_text="amount | count")
    category_ids = serializers.SerializerMethodField()
    product_ids = serializers.SerializerMethodField()
    tiers = CampaignTierOutputSerializer(many=True)
    items = CampaignItemOutputSerializer(many=True)
    seconds_left = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "description",
            "kind",
            "kind_label",
            "starts_at",
            "ends_at",
            "seconds_left",
            "scope",
            "category_ids",
            "product_ids",
            "member_level_ids",
            "stackable_with_coupons",
            "threshold_type",
            "is_repeat",
            "tiers",
            "items",
            "bundle_quantity",
            "bundle_price_fen",
            "buy_quantity",
            "gift_quantity",
        ]

    def get_category_ids(self, campaign: Campaign) -> list[int]:
        return sorted(c.pk for c in campaign.categories.all())

    def get_product_ids(self, campaign: Campaign) -> list[int]:
        return sorted(p.pk for p in campaign.products.all())

    def get_seconds_left(self, campaign: Campaign) -> int:
        now = self.context.get("now") or timezone.now()
        return max(0, int((campaign.ends_at - now).total_seconds()))


class CampaignPageOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = CampaignOutputSerializer(many=True)


def _with_related(queryset: Any) -> Any:
    return queryset.prefetch_related(
        Prefetch("tiers", queryset=CampaignTier.objects.order_by("threshold", "id")),
        Prefetch("items", queryset=CampaignItem.objects.order_by("id")),
        Prefetch("categories"),
        Prefetch("products"),
    )


class CampaignListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["campaigns"],
        summary="Campaigns running now (the promotion banner), highest priority first",
        operation_id="v1_campaigns_list",
        responses={200: CampaignPageOutputSerializer},
    )
    def get(self, request: Request) -> Response:
        now = timezone.now()
        paginator = PagePagination()
        page = paginator.paginate_queryset(
            _with_related(services.campaigns_for_shoppers(now=now)), request, view=self
        )
        data = CampaignOutputSerializer(page, many=True, context={"now": now}).data
        return paginator.get_paginated_response(data)


class CampaignDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["campaigns"],
        summary="One running campaign with its tiers or items",
        operation_id="v1_campaigns_detail",
        responses={200: CampaignOutputSerializer, **errors("not_found")},
    )
    def get(self, request: Request, campaign_id: int) -> Response:
        now = timezone.now()
        campaign = _with_related(services.campaigns_for_shoppers(now=now)).filter(pk=campaign_id)
        found = next(iter(campaign), None)
        if found is None:
            raise exceptions.NotFound()
        return Response(CampaignOutputSerializer(found, context={"now": now}).data)
