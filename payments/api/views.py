"""Shopper pay endpoints and WeChat Pay's notification callbacks.

The callbacks take WeChat's XML and answer WeChat's XML: SUCCESS once the event is recorded (now
or before), FAIL otherwise, so WeChat retries. A forged, malformed or foreign notification is
logged and answered FAIL with nothing written.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mall.errors import (
    IdempotencyKeyReused,
    OrderAlreadyPaid,
    OrderNotPayable,
    TopUpAmountInvalid,
    WechatUnavailable,
)
from mall.idempotency import idempotency_key, idempotency_key_parameter
from mall.openapi import errors

from .. import services, wechat
from .serializers import (
    BalanceOutputSerializer,
    OrderPayOutputSerializer,
    OrderPaySyncOutputSerializer,
    TopUpCreateInputSerializer,
    TopUpCreateOutputSerializer,
)

logger = logging.getLogger(__name__)

XML_CONTENT_TYPE = "text/xml; charset=utf-8"


class MemberOrderApi(APIView):
    """Another member's order is a DoesNotExist in the service: answer not_found."""

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, ObjectDoesNotExist):
            exc = exceptions.NotFound()
        return super().handle_exception(exc)


def _client_ip(request: Request) -> str:
    return request.META.get("REMOTE_ADDR") or "127.0.0.1"


class OrderPayApi(MemberOrderApi):
    @extend_schema(
        tags=["payments"],
        summary="Pay an order: the wx.requestPayment parameters (or paid: true)",
        description="The amount is the order's wechat_pay_fen. A valid prepay is reused, so a "
        "repeated request (e.g. with the same Idempotency-Key) gets the same payment.",
        request=None,
        responses={
            200: OrderPayOutputSerializer,
            **errors(
                "not_authenticated",
                "not_found",
                OrderAlreadyPaid,
                OrderNotPayable,
                WechatUnavailable,
            ),
        },
    )
    def post(self, request: Request, no: str) -> Response:
        return Response(
            services.order_pay(member=request.user, order_no=no, client_ip=_client_ip(request))
        )


class OrderPaySyncApi(MemberOrderApi):
    @extend_schema(
        tags=["payments"],
        summary="After wx.requestPayment: ask WeChat Pay and answer the order's status",
        request=None,
        responses={
            200: OrderPaySyncOutputSerializer,
            **errors("not_authenticated", "not_found"),
        },
    )
    def post(self, request: Request, no: str) -> Response:
        order = services.order_pay_sync(member=request.user, order_no=no)
        return Response(
            OrderPaySyncOutputSerializer(
                {
                    "no": order.no,
                    "status": order.status,
                    "status_label": order.status_label,
                    "paid": order.paid_at is not None,
                    "paid_at": order.paid_at,
                }
            ).data
        )


class BalanceApi(APIView):
    @extend_schema(
        tags=["payments"],
        summary="The member's stored-value balance and latest balance movements",
        responses={200: BalanceOutputSerializer, **errors("not_authenticated")},
    )
    def get(self, request: Request) -> Response:
        return Response(
            BalanceOutputSerializer(services.balance_overview(member=request.user)).data
        )


class TopUpCreateApi(APIView):
    @extend_schema(
        tags=["payments"],
        summary="Top up the balance by WeChat Pay: the wx.requestPayment parameters",
        description="The bonus of the best active tier is fixed now and credited with the "
        "amount once WeChat reports the payment. A repeated Idempotency-Key answers the same "
        "top-up (and the same prepay while it is valid).",
        request=TopUpCreateInputSerializer,
        parameters=[idempotency_key_parameter("top-up")],
        responses={
            200: TopUpCreateOutputSerializer,
            **errors(
                "invalid",
                "not_authenticated",
                TopUpAmountInvalid,
                IdempotencyKeyReused,
                WechatUnavailable,
            ),
        },
    )
    def post(self, request: Request) -> Response:
        client_token = idempotency_key(request)
        data = TopUpCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        answer = services.top_up_create(
            member=request.user,
            amount_fen=data.validated_data["amount_fen"],
            client_token=client_token,
            client_ip=_client_ip(request),
        )
        return Response(TopUpCreateOutputSerializer(answer).data)


class RawXmlParser(BaseParser):
    """Declares WeChat's XML body; the views read request.body themselves."""

    media_type = "text/xml"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read() if stream is not None else b""


def _xml(body: bytes) -> HttpResponse:
    return HttpResponse(body, content_type=XML_CONTENT_TYPE)


CALLBACK_SCHEMA = {
    "tags": ["payments"],
    "request": {"text/xml": OpenApiTypes.STR},
    "responses": {
        (200, "text/xml"): OpenApiResponse(
            OpenApiTypes.STR, description="<xml><return_code>SUCCESS|FAIL</return_code>…</xml>"
        )
    },
    "auth": [],
}


class WechatPaymentNotifyApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    parser_classes = [RawXmlParser]

    @extend_schema(
        summary="WeChat Pay's payment result notification (called by WeChat)", **CALLBACK_SCHEMA
    )
    def post(self, request: Request) -> HttpResponse:
        try:
            data = wechat.payment_notification_parse(request.body)
        except wechat.InvalidNotification as exc:
            logger.warning(
                "payment notification from %s rejected: %s", request.META.get("REMOTE_ADDR"), exc
            )
            return _xml(wechat.fail_xml("invalid notification"))
        try:
            paid_at = wechat.time_parse(str(data.get("time_end", "")))
        except ValueError:
            logger.warning("payment notification with a bad time_end: %r", data.get("time_end"))
            return _xml(wechat.fail_xml("invalid time_end"))
        outcome = services.payment_settle(
            out_trade_no=str(data["out_trade_no"]),
            transaction_id=str(data["transaction_id"]),
            total_fee=int(data["total_fee"]),
            paid_at=paid_at,
            source="notify",
        )
        if outcome.is_recorded:
            return _xml(wechat.SUCCESS_XML)
        return _xml(wechat.fail_xml(str(outcome)))


class WechatRefundNotifyApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    parser_classes = [RawXmlParser]

    @extend_schema(
        summary="WeChat Pay's refund result notification (called by WeChat)", **CALLBACK_SCHEMA
    )
    def post(self, request: Request) -> HttpResponse:
        try:
            data = wechat.refund_notification_parse(request.body)
            success_time = data.get("success_time")
            succeeded_at = (
                wechat.time_parse(str(success_time), "%Y-%m-%d %H:%M:%S") if success_time else None
            )
            refund_fee = int(data["refund_fee"])
        except (wechat.InvalidNotification, ValueError) as exc:
            logger.warning(
                "refund notification from %s rejected: %s", request.META.get("REMOTE_ADDR"), exc
            )
            return _xml(wechat.fail_xml("invalid notification"))
        outcome = services.refund_settle(
            out_refund_no=str(data["out_refund_no"]),
            refund_fee=refund_fee,
            refund_status=str(data["refund_status"]),
            source="notify",
            wechat_refund_id=str(data.get("refund_id") or ""),
            succeeded_at=succeeded_at,
        )
        if outcome.is_acknowledged:
            return _xml(wechat.SUCCESS_XML)
        return _xml(wechat.fail_xml(str(outcome)))
