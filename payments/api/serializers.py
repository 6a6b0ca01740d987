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
