"""Recommendations for the shopper (the lifecycle journeys' "after two orders, related items")."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mall.openapi import errors
from orders.selectors_recommendations import Recommendation, recommendations_for_member


def _url(field_file: Any) -> str:
    return field_file.url if field_file else ""


class RecommendationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="product.id")
    title = serializers.CharField(source="product.title")
    subtitle = serializers.CharField(source="product.subtitle")
    min_price_fen = serializers.IntegerField(source="product.min_price_fen")
    original_price_fen = serializers.IntegerField(source="product.original_price_fen")
    sales_count = serializers.IntegerField(source="product.sales_count")
    image = serializers.SerializerMethodField()
    reason = serializers.CharField(help_text="bought_together | same_category | popular")

    def get_image(self, item: Recommendation) -> str:
        return _url(item.product.main_image_thumb) or _url(item.product.main_image)


class RecommendationsOutputSerializer(serializers.Serializer):
    basis = serializers.CharField(
        help_text="related: from my orders (after my 2nd paid order); popular: best sellers"
    )
    results = RecommendationOutputSerializer(many=True)


class RecommendationListApi(APIView):
    @extend_schema(
        tags=["recommendations"],
        summary="Items for me",
        description="After my 2nd paid order: items others bought together with mine, then "
        "items of the same categories, on shelf, never what I bought (at most 10). Before: "
        "the best sellers (basis = popular).",
        responses={200: RecommendationsOutputSerializer, **errors("not_authenticated")},
    )
    def get(self, request: Request) -> Response:
        found = recommendations_for_member(member_id=request.user.pk)
        return Response(
            {
                "basis": found.basis,
                "results": RecommendationOutputSerializer(found.items, many=True).data,
            }
        )
