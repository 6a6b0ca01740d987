"""The checkout body (lines or the cart, a delivery choice, coupon, points, balance, promotion)
and its reading into a CheckoutRequest.

Not in api/: both the orders API (checkout preview, order creation) and marketing's
coupons-for-checkout read the same body, and an app never imports another app's api/.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from .pricing import CheckoutRequest, DeliveryChoice, LineInput, PromotionChoice

MAX_QUANTITY = 999
MAX_CHECKOUT_LINES = 50


class CheckoutLineInputSerializer(serializers.Serializer):
    sku_id = serializers.IntegerField(min_value=1)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)


class PromotionInputSerializer(serializers.Serializer):
    kind = serializers.CharField(max_length=20)
    id = serializers.IntegerField(min_value=1)


class CheckoutInputSerializer(serializers.Serializer):
    lines = CheckoutLineInputSerializer(
        many=True, required=False, max_length=MAX_CHECKOUT_LINES, help_text="or from_cart"
    )
    from_cart = serializers.BooleanField(required=False, default=False)
    address_id = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    pickup_point_id = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    coupon_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        help_text="omitted or null: the best usable coupon is chosen for the shopper; 0: no coupon",
    )
    points = serializers.IntegerField(required=False, default=0, min_value=0)
    balance_fen = serializers.IntegerField(required=False, default=0, min_value=0)
    promotion = PromotionInputSerializer(required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("lines")) == bool(attrs.get("from_cart")):
            raise serializers.ValidationError(
                {"lines": ["请给出 lines，或设置 from_cart=true（二选一）"]}
            )
        if (attrs.get("address_id") is None) == (attrs.get("pickup_point_id") is None):
            raise serializers.ValidationError(
                {"address_id": ["请给出 address_id 或 pickup_point_id（二选一）"]}
            )
        return attrs

    def to_checkout(self) -> CheckoutRequest:
        data = self.validated_data
        promotion = data.get("promotion")
        return CheckoutRequest(
            delivery=DeliveryChoice(
                address_id=data.get("address_id"), pickup_point_id=data.get("pickup_point_id")
            ),
            lines=tuple(
                LineInput(sku_id=line["sku_id"], quantity=line["quantity"])
                for line in data.get("lines") or ()
            ),
            from_cart=data["from_cart"],
            coupon_id=data.get("coupon_id"),
            points=data["points"],
            balance_fen=data["balance_fen"],
            promotion=PromotionChoice(kind=promotion["kind"], id=promotion["id"])
            if promotion
            else None,
        )
