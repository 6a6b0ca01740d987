"""Input and output serializers of the shopper API. Inputs never carry price, status or member:
those are read-only outputs, computed by the services."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from marketing.services.group_buy import GROUP_BUY_KINDS, group_statuses_for_orders

from ..checkout_input import MAX_QUANTITY, CheckoutInputSerializer
from ..models import (
    Address,
    Order,
    OrderLine,
    OrderStatusLog,
    PickupPoint,
    order_status_label,
    validate_phone,
)
from ..selectors import CartLineView, sku_image_url, sku_spec_text


# --- cart ---
class CartItemCreateInputSerializer(serializers.Serializer):
    sku_id = serializers.IntegerField(min_value=1)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)
    selected = serializers.BooleanField(required=False, default=True)


class CartItemUpdateInputSerializer(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY, required=False)
    selected = serializers.BooleanField(required=False)


class CartLineOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="item.id")
    sku_id = serializers.IntegerField(source="item.sku_id")
    product_id = serializers.IntegerField(source="item.sku.product_id")
    title = serializers.CharField(source="item.sku.product.title")
    spec_text = serializers.SerializerMethodField()
    image_url = serializers.SerializerMethodField()
    price_fen = serializers.IntegerField(source="item.sku.price_fen", help_text="current price")
    added_price_fen = serializers.IntegerField(source="item.added_price_fen")
    price_changed = serializers.BooleanField()
    quantity = serializers.IntegerField(source="item.quantity")
    selected = serializers.BooleanField(source="item.selected")
    stock = serializers.IntegerField(source="item.sku.stock")
    state = serializers.ChoiceField(choices=["ok", "off_shelf", "sold_out", "insufficient_stock"])

    def get_spec_text(self, line: CartLineView) -> str:
        return sku_spec_text(line.item.sku)

    def get_image_url(self, line: CartLineView) -> str:
        return sku_image_url(line.item.sku)


class CartTotalsOutputSerializer(serializers.Serializer):
    selected_count = serializers.IntegerField(help_text="selected lines that can be bought")
    selected_quantity = serializers.IntegerField()
    selected_goods_fen = serializers.IntegerField()


class CartOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = CartLineOutputSerializer(many=True)
    totals = CartTotalsOutputSerializer()


# --- addresses and pickup points ---
class AddressInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=30)
    phone = serializers.CharField(max_length=20, validators=[validate_phone])
    province = serializers.CharField(max_length=20)
    city = serializers.CharField(max_length=30)
    district = serializers.CharField(max_length=30)
    detail = serializers.CharField(max_length=120)
    is_default = serializers.BooleanField(required=False)


class AddressOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Address
        fields = ["id", "name", "phone", "province", "city", "district", "detail", "is_default"]


class AddressListOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = AddressOutputSerializer(many=True)


class PickupPointOutputSerializer(serializers.ModelSerializer):
    latitude = serializers.FloatField(allow_null=True)
    longitude = serializers.FloatField(allow_null=True)

    class Meta:
        model = PickupPoint
        fields = [
            "id",
            "name",
            "province",
            "city",
            "district",
            "address",
            "phone",
            "hours",
            "latitude",
            "longitude",
        ]


class PickupPointListOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = PickupPointOutputSerializer(many=True)


# --- checkout ---
class OrderCreateInputSerializer(CheckoutInputSerializer):
    expected_payable_fen = serializers.IntegerField(
        min_value=0, help_text="payable_fen the shopper saw in the preview"
    )
    note = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)


class DiscountOutputSerializer(serializers.Serializer):
    source = serializers.CharField()
    name = serializers.CharField()
    amount_fen = serializers.IntegerField()
    ref = serializers.CharField(help_text='what it is, e.g. "coupon:12", "campaign:3"')
    auto = serializers.BooleanField(help_text="chosen for the shopper (the best combination)")


class BreakdownLineOutputSerializer(serializers.Serializer):
    sku_id = serializers.IntegerField()
    quantity = serializers.IntegerField()
    unit_price_fen = serializers.IntegerField()
    discount_fen = serializers.IntegerField()
    paid_fen = serializers.IntegerField()
    gift = serializers.BooleanField(help_text="a free gift (买赠), unit price 0")


class BreakdownOutputSerializer(serializers.Serializer):
    goods_fen = serializers.IntegerField()
    discounts = DiscountOutputSerializer(many=True)
    shipping_fen = serializers.IntegerField()
    points_used = serializers.IntegerField()
    points_fen = serializers.IntegerField()
    balance_fen = serializers.IntegerField()
    payable_fen = serializers.IntegerField()
    wechat_pay_fen = serializers.IntegerField()
    lines = BreakdownLineOutputSerializer(many=True)


class CheckoutItemOutputSerializer(serializers.Serializer):
    sku_id = serializers.IntegerField()
    product_id = serializers.IntegerField()
    title = serializers.CharField()
    spec_text = serializers.CharField()
    image_url = serializers.CharField()
    unit_price_fen = serializers.IntegerField()
    quantity = serializers.IntegerField()


class CheckoutPreviewOutputSerializer(BreakdownOutputSerializer):
    """The breakdown, plus what the confirmation page shows of each line."""

    delivery_type = serializers.ChoiceField(choices=Order.DeliveryType.choices)
    items = CheckoutItemOutputSerializer(many=True)


# --- orders ---
class OrderLineOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = [
            "id",
            "sku_id",
            "product_id",
            "title",
            "spec_text",
            "image_url",
            "unit_price_fen",
            "quantity",
            "discount_fen",
            "paid_fen",
            "refunded_quantity",
            "refunded_fen",
        ]
        read_only_fields = fields


class OrderListItemOutputSerializer(serializers.ModelSerializer):
    status_label = serializers.CharField(read_only=True)
    total_quantity = serializers.SerializerMethodField()
    lines = OrderLineOutputSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = [
            "no",
            "status",
            "status_label",
            "kind",
            "delivery_type",
            "goods_fen",
            "discount_fen",
            "shipping_fen",
            "payable_fen",
            "total_quantity",
            "created_at",
            "expires_at",
            "lines",
        ]
        read_only_fields = fields

    def get_total_quantity(self, order: Order) -> int:
        return sum(line.quantity for line in order.lines.all())  # prefetched


class OrderCountsOutputSerializer(serializers.Serializer):
    pending_payment = serializers.IntegerField(help_text="待付款")
    paid = serializers.IntegerField(help_text="待发货")
    shipped = serializers.IntegerField(help_text="待收货")
    completed = serializers.IntegerField(help_text="已完成 (received and completed)")


class OrderListOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = OrderListItemOutputSerializer(many=True)
    counts = OrderCountsOutputSerializer()


class TimelineEntryOutputSerializer(serializers.ModelSerializer):
    status = serializers.CharField(source="to_status")
    status_label = serializers.SerializerMethodField()
    at = serializers.DateTimeField(source="created_at")

    class Meta:
        model = OrderStatusLog
        fields = ["status", "status_label", "note", "at"]

    def get_status_label(self, log: OrderStatusLog) -> str:
        # log.order is the prefetching order (no query).
        return Order(status=log.to_status, delivery_type=log.order.delivery_type).status_label


class OrderDetailOutputSerializer(serializers.ModelSerializer):
    status_label = serializers.CharField(read_only=True)
    breakdown = BreakdownOutputSerializer(read_only=True)
    lines = OrderLineOutputSerializer(many=True, read_only=True)
    pickup_point = PickupPointOutputSerializer(read_only=True, allow_null=True)
    pickup_code = serializers.SerializerMethodField(help_text="only while waiting for pickup")
    timeline = TimelineEntryOutputSerializer(source="status_logs", many=True, read_only=True)
    group_status = serializers.SerializerMethodField(
        help_text="拼团 orders: pending | forming | formed | failed (ships once formed); else null"
    )

    class Meta:
        model = Order
        fields = [
            "no",
            "status",
            "status_label",
            "kind",
            "group_status",
            "delivery_type",
            "address",
            "pickup_point",
            "pickup_code",
            "breakdown",
            "goods_fen",
            "discount_fen",
            "shipping_fen",
            "points_used",
            "points_fen",
            "balance_fen",
            "payable_fen",
            "wechat_pay_fen",
            "note",
            "carrier",
            "tracking_no",
            "cancel_reason",
            "created_at",
            "expires_at",
            "paid_at",
            "shipped_at",
            "received_at",
            "completed_at",
            "cancelled_at",
            "closed_at",
            "lines",
            "timeline",
        ]
        read_only_fields = fields

    def get_pickup_code(self, order: Order) -> str | None:
        if order.delivery_type == Order.DeliveryType.PICKUP and order.status == "paid":
            return order.pickup_code
        return None

    def get_group_status(self, order: Order) -> str | None:
        return order_group_status(order)


def order_group_status(order: Order) -> str | None:
    """The status of the group a group-buy order belongs to (one query, group orders only)."""
    if order.promotion_kind not in GROUP_BUY_KINDS:
        return None
    return group_statuses_for_orders([order.pk]).get(order.pk)


# The detail as plain dicts: what OrderDetailOutputSerializer answers (a test pins them equal),
# without building ~40 DRF fields per response.
_datetime = serializers.DateTimeField()
ORDER_DETAIL_DATES = (
    "created_at",
    "expires_at",
    "paid_at",
    "shipped_at",
    "received_at",
    "completed_at",
    "cancelled_at",
    "closed_at",
)


def _when(value: Any) -> str | None:
    return _datetime.to_representation(value)  # None stays None


def _breakdown_output(breakdown: dict[str, Any]) -> dict[str, Any]:
    return {
        "goods_fen": int(breakdown["goods_fen"]),
        "discounts": [
            {
                "source": str(d["source"]),
                "name": str(d["name"]),
                "amount_fen": int(d["amount_fen"]),
                "ref": str(d.get("ref", "")),
                "auto": bool(d.get("auto", False)),
            }
            for d in breakdown["discounts"]
        ],
        "shipping_fen": int(breakdown["shipping_fen"]),
        "points_used": int(breakdown["points_used"]),
        "points_fen": int(breakdown["points_fen"]),
        "balance_fen": int(breakdown["balance_fen"]),
        "payable_fen": int(breakdown["payable_fen"]),
        "wechat_pay_fen": int(breakdown["wechat_pay_fen"]),
        "lines": [
            {
                "sku_id": int(line["sku_id"]),
                "quantity": int(line["quantity"]),
                "unit_price_fen": int(line["unit_price_fen"]),
                "discount_fen": int(line["discount_fen"]),
                "paid_fen": int(line["paid_fen"]),
                "gift": bool(line.get("gift", False)),
            }
            for line in breakdown["lines"]
        ],
    }


def _pickup_point_output(point: PickupPoint) -> dict[str, Any]:
    return {
        "id": point.pk,
        "name": point.name,
        "province": point.province,
        "city": point.city,
        "district": point.district,
        "address": point.address,
        "phone": point.phone,
        "hours": point.hours,
        "latitude": None if point.latitude is None else float(point.latitude),
        "longitude": None if point.longitude is None else float(point.longitude),
    }


def order_line_output(line: OrderLine) -> dict[str, Any]:
    return {
        "id": line.pk,
        "sku_id": line.sku_id,
        "product_id": line.product_id,
        "title": line.title,
        "spec_text": line.spec_text,
        "image_url": line.image_url,
        "unit_price_fen": line.unit_price_fen,
        "quantity": line.quantity,
        "discount_fen": line.discount_fen,
        "paid_fen": line.paid_fen,
        "refunded_quantity": line.refunded_quantity,
        "refunded_fen": line.refunded_fen,
    }


def order_detail_output(order: Order) -> dict[str, Any]:
    """OrderDetailOutputSerializer(order).data, built directly. Reads order.lines and
    order.status_logs (prefetched, or seeded by order_create) and order.pickup_point."""
    pickup_point = order.pickup_point if order.pickup_point_id is not None else None
    is_pickup = order.delivery_type == Order.DeliveryType.PICKUP
    return {
        "no": order.no,
        "status": order.status,
        "status_label": str(order.status_label),
        "kind": order.kind,
        "group_status": order_group_status(order),
        "delivery_type": order.delivery_type,
        "address": order.address,
        "pickup_point": None if pickup_point is None else _pickup_point_output(pickup_point),
        "pickup_code": order.pickup_code if is_pickup and order.status == "paid" else None,
        "breakdown": _breakdown_output(order.breakdown),
        "goods_fen": order.goods_fen,
        "discount_fen": order.discount_fen,
        "shipping_fen": order.shipping_fen,
        "points_used": order.points_used,
        "points_fen": order.points_fen,
        "balance_fen": order.balance_fen,
        "payable_fen": order.payable_fen,
        "wechat_pay_fen": order.wechat_pay_fen,
        "note": order.note,
        "carrier": order.carrier,
        "tracking_no": order.tracking_no,
        "cancel_reason": order.cancel_reason,
        **{name: _when(getattr(order, name)) for name in ORDER_DETAIL_DATES},
        "lines": [order_line_output(line) for line in order.lines.all()],
        "timeline": [
            {
                "status": log.to_status,
                "status_label": str(order_status_label(log.to_status, order.delivery_type)),
                "note": log.note,
                "at": _when(log.created_at),
            }
            for log in order.status_logs.all()
        ],
    }


class OrderCancelInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)


class BuyAgainUnavailableOutputSerializer(serializers.Serializer):
    sku_id = serializers.IntegerField()
    title = serializers.CharField()
    code = serializers.CharField(help_text="product_unavailable | out_of_stock | cart_full")
    message = serializers.CharField()


class BuyAgainOutputSerializer(serializers.Serializer):
    added = serializers.ListField(child=serializers.IntegerField(), help_text="SKU ids added")
    unavailable = BuyAgainUnavailableOutputSerializer(many=True)
