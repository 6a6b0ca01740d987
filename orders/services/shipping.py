"""小程序发货信息管理: tell WeChat that a paid order was shipped or picked up.

WeChat holds the merchant's settlement of mini-program payments until it knows the goods left,
so every shipped (express) or redeemed (pickup) order is uploaded, retried by a task until
WeChat accepts it. No lock is held during the call.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone

from mall import wechat

from ..models import Order, OrderStatus

LOGISTICS_EXPRESS = 1  # 实体物流配送
LOGISTICS_PICKUP = 4  # 用户自提
DELIVERY_MODE_UNIFIED = 1  # 统一发货 (one parcel)
ITEM_DESC_MAX = 120
UPLOADABLE = (OrderStatus.SHIPPED, OrderStatus.RECEIVED, OrderStatus.COMPLETED)


def _masked_phone(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 7 else phone


def shipping_info_payload(order: Order) -> dict[str, Any]:
    """WeChat's upload_shipping_info body for a shipped or redeemed order."""
    item_desc = "；".join(f"{line.title}×{line.quantity}" for line in order.lines.all())
    is_pickup = order.delivery_type == Order.DeliveryType.PICKUP
    shipment: dict[str, Any] = {"item_desc": item_desc[:ITEM_DESC_MAX] or "商品"}
    if not is_pickup:
        shipment |= {
            "tracking_no": order.tracking_no,
            "express_company": order.carrier,
            # SF Express requires the receiver's phone, masked (WeChat's rule).
            "contact": {"receiver_contact": _masked_phone(order.address.get("phone", ""))},
        }
    handed_over_at = (order.received_at if is_pickup else order.shipped_at) or timezone.now()
    return {
        "order_key": {
            "order_number_type": 1,  # by merchant order number (out_trade_no)
            "mchid": settings.WECHAT_MCH_ID,
            "out_trade_no": order.out_trade_no or order.no,
        },
        "logistics_type": LOGISTICS_PICKUP if is_pickup else LOGISTICS_EXPRESS,
        "delivery_mode": DELIVERY_MODE_UNIFIED,
        "shipping_list": [shipment],
        "upload_time": timezone.localtime(handed_over_at).isoformat(timespec="seconds"),
        "payer": {"openid": order.member.openid},
    }


def order_shipping_info_upload(*, order_id: int) -> bool:
    """Upload once; returns True when WeChat has it (now or before), False when there is
    nothing to upload (not shipped). Safe to run twice.

    Raises: WechatUnavailable / WechatApiError (the task retries with backoff).
    """
    order = (
        Order.objects.select_related("member").prefetch_related("lines").filter(pk=order_id).first()
    )
    if order is None or order.status not in UPLOADABLE or order.wechat_pay_fen == 0:
        return False  # not handed over, or not paid through WeChat Pay (nothing to report)
    if order.shipping_info_uploaded_at is not None:
        return True
    wechat.shipping_info_upload(shipping_info_payload(order))
    Order.objects.filter(pk=order_id, shipping_info_uploaded_at__isnull=True).update(
        shipping_info_uploaded_at=timezone.now()
    )
    return True
