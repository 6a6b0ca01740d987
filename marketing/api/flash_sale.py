"""秒杀 shopper API: the day's sessions, a session's items, and admission.

Buying is two steps: `POST flash/items/{id}/admit` (Redis decides, the database is not touched
beyond the token lookup), then, within FLASH_SALE_ADMISSION_TTL seconds, the order with
`promotion: {"kind": "flash", "id": <item id>}` and one line of the item's SKU (checkout preview
and POST orders). The order must be paid within FLASH_SALE_PAYMENT_TIMEOUT seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mall.errors import (
    DomainError,
    FlashEnded,
    FlashLimitReached,
    FlashNotStarted,
    FlashSoldOut,
)
from mall.openapi import errors
from mall.pagination import PagePagination
from members.authentication import (
    MemberTokenAuthentication,
    member_id_for_token,
    token_key_from_request,
)

from ..models import FlashItem, FlashSession
from ..services import flash_sale as services

MAX_QUANTITY = 99


class FlashSessionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    status = serializers.CharField(help_text="upcoming 未开始 | ongoing 进行中 | ended 已结束")
    seconds_to_start = serializers.IntegerField(help_text="倒计时：距开始秒数（已开始为 0）")
    seconds_to_end = serializers.IntegerField(help_text="距结束秒数（已结束为 0）")


class FlashSessionListOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = FlashSessionOutputSerializer(many=True)


class FlashItemOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sku_id = serializers.IntegerField()
    product_id = serializers.IntegerField()
    title = serializers.CharField()
    spec_text = serializers.CharField()
    image_url = serializers.CharField()
    price_fen = serializers.IntegerField(help_text="原价")
    flash_price_fen = serializers.IntegerField()
    total_stock = serializers.IntegerField()
    remaining = serializers.IntegerField(help_text="还可抢的数量")
    per_member_limit = serializers.IntegerField()


class FlashItemPageOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    session = FlashSessionOutputSerializer()
    results = FlashItemOutputSerializer(many=True)


class FlashAdmitInputSerializer(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY, default=1)


class FlashAdmitOutputSerializer(serializers.Serializer):
    admitted = serializers.BooleanField()
    token = serializers.CharField(help_text="抢购资格；凭会员身份下单，无需回传")
    quantity = serializers.IntegerField()
    expires_at = serializers.DateTimeField(help_text="在此之前下单")


def _session_output(session: FlashSession, now: Any) -> dict[str, Any]:
    return {
        "id": session.pk,
        "name": session.name,
        "starts_at": session.starts_at,
        "ends_at": session.ends_at,
        "status": services.flash_session_status(session, now),
        "seconds_to_start": max(0, int((session.starts_at - now).total_seconds())),
        "seconds_to_end": max(0, int((session.ends_at - now).total_seconds())),
    }


def _image_url(item: FlashItem) -> str:
    sku = item.sku
    for image in (sku.image, sku.product.main_image_thumb, sku.product.main_image):
        if image:
            return image.url
    return ""


def _item_output(item: FlashItem, remaining: int) -> dict[str, Any]:
    sku = item.sku
    return {
        "id": item.pk,
        "sku_id": sku.pk,
        "product_id": sku.product_id,
        "title": sku.product.title,
        "spec_text": " ".join(f"{k}:{v}" for k, v in (sku.specs or {}).items()),
        "image_url": _image_url(item),
        "price_fen": sku.price_fen,
        "flash_price_fen": item.flash_price_fen,
        "total_stock": item.total_stock,
        "remaining": remaining,
        "per_member_limit": item.per_member_limit,
    }


class FlashSessionListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["flash-sale"],
        summary="Today's flash-sale sessions (10:00, 14:00, 20:00 …) with their status",
        operation_id="v1_flash_sessions_list",
        responses={200: FlashSessionListOutputSerializer},
    )
    def get(self, request: Request) -> Response:
        now = timezone.now()
        results = [_session_output(s, now) for s in services.flash_sessions_of_day(now=now)]
        # Few per day: one page holds them all.
        return Response({"count": len(results), "next": None, "previous": None, "results": results})


class FlashSessionItemListApi(APIView):
    permission_classes = [AllowAny]

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, ObjectDoesNotExist):
            exc = exceptions.NotFound()
        return super().handle_exception(exc)

    @extend_schema(
        tags=["flash-sale"],
        summary="A session's items: flash price, units left (Redis, else the database), product",
        operation_id="v1_flash_session_items_list",
        responses={200: FlashItemPageOutputSerializer, **errors("not_found")},
    )
    def get(self, request: Request, session_id: int) -> Response:
        now = timezone.now()
        session = FlashSession.objects.get(pk=session_id, is_active=True)
        paginator = PagePagination()
        page = paginator.paginate_queryset(
            services.flash_session_items(session_id=session.pk), request, view=self
        )
        remaining = services.flash_items_remaining(page)
        results = [_item_output(item, remaining[item.pk]) for item in page]
        body = paginator.get_paginated_response(results).data
        body["session"] = _session_output(session, now)
        return Response(body)


class FlashTokenAuthentication(MemberTokenAuthentication):
    """MemberTokenAuthentication answering only the member id (members' one-statement
    `member_id_for_token`): the admission view runs it on every request of a rush."""

    def authenticate(self, request: Request) -> tuple[_TokenMember, None] | None:
        key = token_key_from_request(request, self.keyword)
        if key is None:
            return None
        member_id = member_id_for_token(key)
        if member_id is None:
            raise exceptions.AuthenticationFailed()
        return _TokenMember(pk=member_id), None


@dataclass(frozen=True)
class _TokenMember:
    """request.user of the admission view: the member's id is all it needs (building a Member
    instance costs more than the Lua call)."""

    pk: int
    is_authenticated: bool = True


def _quantity(data: Any) -> int:
    """The body's quantity (default 1), checked without a serializer (the hot path)."""
    value = data.get("quantity", 1) if isinstance(data, dict) else None
    if type(value) is not int or not 1 <= value <= MAX_QUANTITY:
        raise exceptions.ValidationError({"quantity": [f"须为 1 到 {MAX_QUANTITY} 的整数"]})
    return value


class FlashItemAdmitApi(APIView):
    """The hot path of a flash sale: the token lookup and one Lua call in Redis, no other SQL."""

    authentication_classes = [FlashTokenAuthentication]

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, ObjectDoesNotExist):
            exc = exceptions.NotFound()
        response = super().handle_exception(exc)
        if isinstance(exc, DomainError):
            # Sold out / limit reached is the expected answer to most of a rush, not a warning
            # for the log (django.request logs every 4xx otherwise, thousands per second).
            response._has_been_logged = True  # type: ignore[attr-defined]
        return response

    @extend_schema(
        tags=["flash-sale"],
        summary="Ask to buy a flash item: admitted (order within the admission TTL) or not",
        operation_id="v1_flash_item_admit",
        auth=[{"MemberToken": []}],  # FlashTokenAuthentication is the member token, faster
        request=FlashAdmitInputSerializer,
        responses={
            200: FlashAdmitOutputSerializer,
            **errors(
                "invalid",
                "not_authenticated",
                "not_found",
                FlashNotStarted,
                FlashEnded,
                FlashSoldOut,
                FlashLimitReached,
            ),
        },
    )
    def post(self, request: Request, item_id: int) -> Response:
        admission = services.flash_admit(
            member_id=request.user.pk, item_id=item_id, quantity=_quantity(request.data)
        )
        expires_at = datetime.fromtimestamp(admission.expires_ms / 1000, tz=UTC)
        return Response(
            {
                "admitted": True,
                "token": admission.token,
                "quantity": admission.quantity,
                "expires_at": timezone.localtime(expires_at).isoformat(),
            }
        )
