"""Serializers of the payments API (names unique across the project for drf-spectacular)."""

from rest_framework import serializers


class RequestPaymentOutputSerializer(serializers.Serializer):
    """Pass these to wx.requestPayment as they are."""

    timeStamp = serializers.CharField()  # noqa: N815 - WeChat's own field names
    nonceStr = serializers.CharField()  # noqa: N815
    package = serializers.CharField(help_text="prepay_id=…")
    signType = serializers.CharField()  # noqa: N815
    paySign = serializers.CharField()  # noqa: N815


class OrderPayOutputSerializer(serializers.Serializer):
    paid = serializers.BooleanField(
        help_text="true: nothing is left to pay by WeChat, the order is paid"
    )
    request_payment = RequestPaymentOutputSerializer(required=False)


class OrderPaySyncOutputSerializer(serializers.Serializer):
    no = serializers.CharField()
    status = serializers.CharField()
    status_label = serializers.CharField()
    paid = serializers.BooleanField(help_text="WeChat (or stored value) has paid the order")
    paid_at = serializers.DateTimeField(allow_null=True)


class TopUpCreateInputSerializer(serializers.Serializer):
    amount_fen = serializers.IntegerField(help_text="充值金额(分)")


class TopUpOutputSerializer(serializers.Serializer):
    no = serializers.CharField()
    amount_fen = serializers.IntegerField()
    bonus_fen = serializers.IntegerField(help_text="the bonus of the best active tier")
    status = serializers.CharField(help_text="pending | paid | refunding | refunded")
    paid_at = serializers.DateTimeField(allow_null=True)


class TopUpCreateOutputSerializer(serializers.Serializer):
    top_up = TopUpOutputSerializer()
    paid = serializers.BooleanField(help_text="true: this top-up is paid already")
    request_payment = RequestPaymentOutputSerializer(required=False)


class BalanceEntryOutputSerializer(serializers.Serializer):
    kind = serializers.CharField()
    kind_label = serializers.CharField()
    direction = serializers.CharField(help_text="in | out")
    amount_fen = serializers.IntegerField()
    external_key = serializers.CharField()
    note = serializers.CharField()
    occurred_at = serializers.DateTimeField()


class BalanceOutputSerializer(serializers.Serializer):
    balance_fen = serializers.IntegerField()
    entries = BalanceEntryOutputSerializer(many=True)
