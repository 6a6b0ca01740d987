"""拼团 shopper API: running campaigns, the groups to join, a group's share page, my groups.

Joining and opening are not endpoints here: the shopper places an order with
`promotion: {"kind": "group_open" | "group_join", "id": …}` (checkout preview and POST orders).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mall.openapi import errors
from mall.pagination import PagePagination

from ..services import group_buy as services


class GroupBuyCampaignOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    sku_id = serializers.IntegerField()
    product_id = serializers.IntegerField(source="sku.product_id")
    title = serializers.CharField(source="sku.product.title")
    price_fen = serializers.IntegerField(source="sku.price_fen", help_text="单独购买价")
    group_price_fen = serializers.IntegerField()
    size = serializers.IntegerField()
    form_hours = serializers.IntegerField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()


class GroupBuyCampaignPageOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = GroupBuyCampaignOutputSerializer(many=True)


class GroupSeatOutputSerializer(serializers.Serializer):
    nickname = serializers.CharField(help_text="masked")
    avatar_url = serializers.CharField()
    is_leader = serializers.BooleanField()
    is_paid = serializers.BooleanField()


class GroupShareOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    campaign_id = serializers.IntegerField()
    status = serializers.CharField(help_text="forming | formed | failed")
    size = serializers.IntegerField()
    seats_taken = serializers.IntegerField()
    seats_paid = serializers.IntegerField()
    seats_left = serializers.IntegerField()
    virtual_seats = serializers.IntegerField()
    expires_at = serializers.DateTimeField(allow_null=True)
    seconds_left = serializers.IntegerField()
    members = GroupSeatOutputSerializer(many=True)


class GroupBuyCampaignDetailOutputSerializer(GroupBuyCampaignOutputSerializer):
    groups = GroupShareOutputSerializer(many=True, help_text="groups open for joining")


class GroupShareWithCampaignOutputSerializer(GroupShareOutputSerializer):
    campaign = GroupBuyCampaignOutputSerializer()


class MyGroupOutputSerializer(serializers.Serializer):
    group_id = serializers.IntegerField()
    campaign_id = serializers.IntegerField(source="group.campaign_id")
    campaign_name = serializers.CharField(source="group.campaign.name")
    group_price_fen = serializers.IntegerField(source="group.campaign.group_price_fen")
    group_status = serializers.CharField(source="group.status")
    size = serializers.IntegerField(source="group.size")
    seats_taken = serializers.IntegerField(source="group.seats_taken")
    seats_paid = serializers.IntegerField(source="group.seats_paid")
    expires_at = serializers.DateTimeField(source="group.expires_at", allow_null=True)
    is_leader = serializers.BooleanField()
    seat_status = serializers.CharField(source="status")
    order_no = serializers.CharField()
    joined_at = serializers.DateTimeField()


class MyGroupPageOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = MyGroupOutputSerializer(many=True)


class GroupBuyCampaignListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["group-buys"],
        summary="拼团: running campaigns",
        operation_id="v1_group_buys_list",
        parameters=[
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses={200: GroupBuyCampaignPageOutputSerializer, **errors("not_found")},
    )
    def get(self, request: Request) -> Response:
        paginator = PagePagination()
        page = paginator.paginate_queryset(
            services.group_buy_campaigns_active(), request, view=self
        )
        return paginator.get_paginated_response(
            GroupBuyCampaignOutputSerializer(page, many=True).data
        )


class GroupBuyCampaignDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["group-buys"],
        summary="拼团: a running campaign with the groups open for joining",
        operation_id="v1_group_buys_retrieve",
        responses={200: GroupBuyCampaignDetailOutputSerializer, **errors("not_found")},
    )
    def get(self, request: Request, campaign_id: int) -> Response:
        now = timezone.now()
        campaign = services.group_buy_campaigns_active(now=now).filter(pk=campaign_id).first()
        if campaign is None:
            raise exceptions.NotFound()
        groups = services.groups_joinable(campaign_id=campaign.pk, now=now)
        body: dict[str, Any] = dict(GroupBuyCampaignOutputSerializer(campaign).data)
        body["groups"] = GroupShareOutputSerializer(
            [services.group_share_view(group, now=now) for group in groups], many=True
        ).data
        return Response(body)


class GroupShareApi(APIView):
    """The page a shared link opens (anyone with the link; nicknames are masked)."""

    permission_classes = [AllowAny]

    @extend_schema(
        tags=["group-buys"],
        summary="拼团: a group's share page (members, seats left, seconds left)",
        operation_id="v1_groups_retrieve",
        responses={200: GroupShareWithCampaignOutputSerializer, **errors("not_found")},
    )
    def get(self, request: Request, group_id: int) -> Response:
        try:
            group = services.group_get_for_share(group_id=group_id)
        except ObjectDoesNotExist as exc:
            raise exceptions.NotFound() from exc
        if group.status == group.Status.PENDING:
            raise exceptions.NotFound()  # not visible before its leader paid
        body = dict(
            GroupShareOutputSerializer(services.group_share_view(group, now=timezone.now())).data
        )
        body["campaign"] = GroupBuyCampaignOutputSerializer(group.campaign).data
        return Response(body)


class MyGroupListApi(APIView):
    @extend_schema(
        tags=["group-buys"],
        summary="拼团: the groups I opened or joined, newest first",
        operation_id="v1_me_groups_list",
        parameters=[
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses={200: MyGroupPageOutputSerializer, **errors("not_authenticated")},
    )
    def get(self, request: Request) -> Response:
        paginator = PagePagination()
        page = paginator.paginate_queryset(
            services.group_seats_for_member(member=request.user), request, view=self
        )
        return paginator.get_paginated_response(MyGroupOutputSerializer(page, many=True).data)
