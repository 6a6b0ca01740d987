"""Cart, addresses, delivery (freight templates, pickup points), orders and their status log.

Amounts are integer fen. Status changes only through `orders.services.order_transition` (or its
one-statement twin for a payment, orders.sql), with a conditional UPDATE checked against
ALLOWED_TRANSITIONS, so two workers can never both move one order.
"""

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from catalog.models import Product, Sku
from members.models import Member

# Mainland mobile (11 digits, 1[3-9]…) or a landline with area code (010-12345678, 0571 87654321-8).
PHONE_PATTERN = r"^(1[3-9]\d{9}|0\d{2,3}[- ]?\d{7,8}([- ]\d{1,6})?)$"
validate_phone = RegexValidator(PHONE_PATTERN, "请输入正确的手机号或座机号（带区号）")


class CartItem(models.Model):
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="cart_items")
    sku = models.ForeignKey(Sku, verbose_name="SKU", on_delete=models.CASCADE, related_name="+")
    quantity = models.PositiveIntegerField("数量", validators=[MinValueValidator(1)])
    selected = models.BooleanField("选中", default=True)
    # The price when the shopper added it, so the cart can say "price changed since you added it".
    added_price_fen = models.PositiveBigIntegerField("加入时价格(分)")
    created_at = models.DateTimeField("加入时间", default=timezone.now)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "购物车商品"
        verbose_name_plural = "购物车商品"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["member", "sku"], name="cart_item_unique_member_sku"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.sku_id} × {self.quantity}"


class Address(models.Model):
    MAX_PER_MEMBER = 20

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="addresses")
    name = models.CharField("收货人", max_length=30)
    phone = models.CharField("电话", max_length=20, validators=[validate_phone])
    province = models.CharField("省", max_length=20)
    city = models.CharField("市", max_length=30)
    district = models.CharField("区/县", max_length=30)
    detail = models.CharField("详细地址", max_length=120)
    is_default = models.BooleanField("默认地址", default=False)
    created_at = models.DateTimeField("创建时间", default=timezone.now)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "收货地址"
        verbose_name_plural = "收货地址"
        ordering = ["-is_default", "-updated_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member"], condition=Q(is_default=True), name="address_one_default"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.province}{self.city}{self.district}{self.detail}"

    def as_snapshot(self) -> dict[str, str]:
        """The copy an order keeps: later edits of the address do not change past orders."""
        return {
            "name": self.name,
            "phone": self.phone,
            "province": self.province,
            "city": self.city,
            "district": self.district,
            "detail": self.detail,
        }


class FreightTemplate(models.Model):
    """运费模板. Products without a template use the default one; with no default, shipping is free."""

    class ChargeBy(models.TextChoices):
        WEIGHT = "weight", "按重量(克)"
        PIECE = "piece", "按件数"

    name = models.CharField("名称", max_length=40)
    charge_by = models.CharField("计费方式", max_length=10, choices=ChargeBy.choices)
    free_over_fen = models.PositiveBigIntegerField(
        "满额包邮(分)",
        null=True,
        blank=True,
        help_text="该模板商品优惠后金额达到此值免运费；留空表示不包邮",
    )
    is_default = models.BooleanField("默认模板", default=False)
    products = models.ManyToManyField(
        Product, verbose_name="适用商品", blank=True, related_name="freight_templates"
    )
    created_at = models.DateTimeField("创建时间", default=timezone.now)

    class Meta:
        verbose_name = "运费模板"
        verbose_name_plural = "运费模板"
        ordering = ["-is_default", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="freight_one_default"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class FreightRule(models.Model):
    """Fee for a set of provinces: first `first_units` cost first_fee_fen, each started
    `extra_units` more cost extra_fee_fen. Units are grams or pieces (the template's charge_by).
    A rule with no regions covers every province no other rule names."""

    template = models.ForeignKey(FreightTemplate, on_delete=models.CASCADE, related_name="rules")
    regions = models.JSONField("地区(省)", default=list, blank=True, help_text="留空表示其他地区")
    first_units = models.PositiveIntegerField("首重/首件", default=1)
    first_fee_fen = models.PositiveBigIntegerField("首费(分)", default=0)
    extra_units = models.PositiveIntegerField(
        "续重/续件", default=1, validators=[MinValueValidator(1)]
    )
    extra_fee_fen = models.PositiveBigIntegerField("续费(分)", default=0)

    class Meta:
        verbose_name = "运费规则"
        verbose_name_plural = "运费规则"
        ordering = ["template_id", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(extra_units__gte=1), name="freight_extra_units_pos"),
        ]

    def __str__(self) -> str:
        return f"{self.template_id}: {','.join(self.regions) or '其他地区'}"


class PickupPoint(models.Model):
    """自提点."""

    name = models.CharField("名称", max_length=60)
    province = models.CharField("省", max_length=20)
    city = models.CharField("市", max_length=30)
    district = models.CharField("区/县", max_length=30)
    address = models.CharField("地址", max_length=120)
    phone = models.CharField("电话", max_length=20, blank=True, validators=[validate_phone])
    hours = models.CharField("营业时间", max_length=60, blank=True)
    # Coordinates, not money: Decimal is right here.
    latitude = models.DecimalField("纬度", max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField("经度", max_digits=9, decimal_places=6, null=True, blank=True)
    is_active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField("创建时间", default=timezone.now)

    class Meta:
        verbose_name = "自提点"
        verbose_name_plural = "自提点"
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class OrderStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", "待付款"
    PAID = "paid", "待发货"
    SHIPPED = "shipped", "待收货"
    RECEIVED = "received", "已收货"
    COMPLETED = "completed", "已完成"
    CANCELLED = "cancelled", "已取消"
    CLOSED = "closed", "已关闭"


# The order state machine: the moves `orders.services.order_transition` (and the payment's
# one-statement settle, orders.sql) may make, and the timestamp each target status sets.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    OrderStatus.PENDING_PAYMENT: frozenset({OrderStatus.PAID, OrderStatus.CANCELLED}),
    # paid → received: a pickup order handed over at the pickup point (pickup_redeem).
    OrderStatus.PAID: frozenset({OrderStatus.SHIPPED, OrderStatus.RECEIVED, OrderStatus.CLOSED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.RECEIVED, OrderStatus.CLOSED}),
    OrderStatus.RECEIVED: frozenset({OrderStatus.COMPLETED, OrderStatus.CLOSED}),
    OrderStatus.COMPLETED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.CLOSED: frozenset(),
}
TIMESTAMP_FIELD: dict[str, str] = {
    OrderStatus.PAID: "paid_at",
    OrderStatus.SHIPPED: "shipped_at",
    OrderStatus.RECEIVED: "received_at",
    OrderStatus.COMPLETED: "completed_at",
    OrderStatus.CANCELLED: "cancelled_at",
    OrderStatus.CLOSED: "closed_at",
}


class TransitionNotAllowed(ValueError):
    """A programming error: the pair is not in ALLOWED_TRANSITIONS."""


class Order(models.Model):
    class Kind(models.TextChoices):
        NORMAL = "normal", "普通订单"
        FLASH_SALE = "flash_sale", "秒杀"
        GROUP_BUY = "group_buy", "拼团"
        POINTS_MALL = "points_mall", "积分商城"

    class DeliveryType(models.TextChoices):
        EXPRESS = "express", "快递"
        PICKUP = "pickup", "自提"

    # Statuses in which a pickup code can still be redeemed: unique among these orders.
    OPEN_PICKUP_STATUSES = (OrderStatus.PENDING_PAYMENT, OrderStatus.PAID)

    # Every index is written by each order and each payment: `no` is unique by a constraint
    # (unique=True adds a LIKE index nothing uses), `member` is the first column of
    # order_member_status (no index of its own), out_trade_no is not looked up.
    no = models.CharField("订单号", max_length=32)
    member = models.ForeignKey(
        Member,
        verbose_name="会员",
        on_delete=models.PROTECT,
        related_name="orders",
        db_index=False,
    )
    status = models.CharField(
        "状态", max_length=20, choices=OrderStatus.choices, default=OrderStatus.PENDING_PAYMENT
    )
    kind = models.CharField("类型", max_length=20, choices=Kind.choices, default=Kind.NORMAL)
    client_token = models.CharField("幂等键", max_length=64, editable=False)
    request_hash = models.CharField(max_length=64, editable=False)
    delivery_type = models.CharField("配送方式", max_length=10, choices=DeliveryType.choices)
    address = models.JSONField("收货地址", default=dict, blank=True)
    pickup_point = models.ForeignKey(
        PickupPoint,
        verbose_name="自提点",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
        db_index=False,  # order_pickup_point: pickup orders only
    )
    pickup_code = models.CharField("自提码", max_length=6, blank=True)
    # The whole price breakdown as the API shows it; refunds read it back, never recompute it.
    breakdown = models.JSONField("价格明细", default=dict)
    goods_fen = models.PositiveBigIntegerField("商品金额(分)")
    discount_fen = models.PositiveBigIntegerField("优惠(分)", default=0)
    shipping_fen = models.PositiveBigIntegerField("运费(分)", default=0)
    points_used = models.PositiveBigIntegerField("使用积分", default=0)
    points_fen = models.PositiveBigIntegerField("积分抵扣(分)", default=0)
    balance_fen = models.PositiveBigIntegerField("余额支付(分)", default=0)
    payable_fen = models.PositiveBigIntegerField("应付(分)")
    wechat_pay_fen = models.PositiveBigIntegerField("微信支付(分)")
    note = models.CharField("买家留言", max_length=200, blank=True)
    # The promotion the shopper chose (flash sale, group buy, points mall …), as in the checkout.
    promotion_kind = models.CharField("活动类型", max_length=20, blank=True, default="")
    promotion_id = models.BigIntegerField("活动ID", null=True, blank=True)
    merchant_note = models.CharField("商家备注", max_length=500, blank=True)
    carrier = models.CharField("快递公司", max_length=32, blank=True)
    tracking_no = models.CharField("快递单号", max_length=64, blank=True)
    out_trade_no = models.CharField("商户订单号", max_length=64, blank=True)
    expires_at = models.DateTimeField("支付截止")
    paid_at = models.DateTimeField("支付时间", null=True, blank=True)
    # When the payment's effects in other apps (points, growth, coupon used, 消费返券 …) were
    # applied: at once for a promotion's order, by the follow-up task (or its sweep) for others.
    paid_effects_at = models.DateTimeField("支付后处理时间", null=True, blank=True)
    shipped_at = models.DateTimeField("发货时间", null=True, blank=True)
    received_at = models.DateTimeField("收货时间", null=True, blank=True)
    completed_at = models.DateTimeField("完成时间", null=True, blank=True)
    cancelled_at = models.DateTimeField("取消时间", null=True, blank=True)
    closed_at = models.DateTimeField("关闭时间", null=True, blank=True)
    cancel_reason = models.CharField("取消原因", max_length=200, blank=True)
    shipping_info_uploaded_at = models.DateTimeField("发货信息上传微信", null=True, blank=True)
    is_deleted_by_member = models.BooleanField("买家已删除", default=False)
    created_at = models.DateTimeField("下单时间", default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "订单"
        verbose_name_plural = "订单"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["no"], name="order_unique_no"),
            models.UniqueConstraint(
                fields=["member", "client_token"], name="order_unique_member_client_token"
            ),
            models.UniqueConstraint(
                fields=["pickup_code"],
                condition=Q(delivery_type="pickup", status__in=["pending_payment", "paid"]),
                name="order_unique_open_pickup_code",
            ),
        ]
        indexes = [
            models.Index(fields=["member", "status", "-created_at"], name="order_member_status"),
            models.Index(
                fields=["expires_at"],
                condition=Q(status="pending_payment"),
                name="order_unpaid_expiry",
            ),
            models.Index(
                fields=["paid_at"],
                condition=Q(paid_at__isnull=False, paid_effects_at__isnull=True),
                name="order_paid_effects_due",
            ),
            models.Index(
                fields=["shipped_at"], condition=Q(status="shipped"), name="order_shipped_at"
            ),
            models.Index(
                fields=["received_at"], condition=Q(status="received"), name="order_received_at"
            ),
            # Express orders (most) have no pickup point: not indexed, not written on insert.
            models.Index(
                fields=["pickup_point"],
                condition=Q(pickup_point__isnull=False),
                name="order_pickup_point",
            ),
        ]

    def __str__(self) -> str:
        return self.no

    @property
    def status_label(self) -> str:
        return order_status_label(self.status, self.delivery_type)


def order_status_label(status: str, delivery_type: str) -> str:
    """What the shopper reads for a status: a paid pickup order is 待自提."""
    if status == OrderStatus.PAID and delivery_type == Order.DeliveryType.PICKUP:
        return "待自提"
    return OrderStatus(status).label


class OrderLine(models.Model):
    """One bought SKU, with title/spec/image/price copied at purchase time and its share of
    every discount (`discount_fen`) and of the shipping fee (inside `paid_fen`), so a line
    refund is exact: Σ paid_fen of an order = its payable_fen."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    sku = models.ForeignKey(Sku, verbose_name="SKU", on_delete=models.PROTECT, related_name="+")
    product = models.ForeignKey(
        Product, verbose_name="商品", on_delete=models.PROTECT, related_name="+"
    )
    title = models.CharField("商品名称", max_length=120)
    spec_text = models.CharField("规格", max_length=255, blank=True)
    image_url = models.CharField("图片", max_length=500, blank=True)
    unit_price_fen = models.PositiveBigIntegerField("单价(分)")
    quantity = models.PositiveIntegerField("数量")
    discount_fen = models.PositiveBigIntegerField("优惠分摊(分)", default=0)
    paid_fen = models.PositiveBigIntegerField("实付分摊(分)")
    refunded_quantity = models.PositiveIntegerField("已退数量", default=0)
    # The provider whose own pool reserved this line's units (a flash sale), else "": the SKU's stock.
    stock_held_by = models.CharField("库存来源", max_length=20, blank=True, default="")
    refunded_fen = models.PositiveBigIntegerField("已退金额(分)", default=0)

    class Meta:
        verbose_name = "订单商品"
        verbose_name_plural = "订单商品"
        ordering = ["order_id", "id"]

    def __str__(self) -> str:
        return f"{self.title} × {self.quantity}"


class OrderStatusLog(models.Model):
    """Append-only timeline: who moved an order from what to what, and when."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="status_logs")
    from_status = models.CharField("原状态", max_length=20, blank=True)
    to_status = models.CharField("新状态", max_length=20)
    # "member:<id>", "admin:<username>", "system", "wechat"
    actor = models.CharField("操作人", max_length=80)
    note = models.CharField("说明", max_length=200, blank=True)
    created_at = models.DateTimeField("时间", default=timezone.now)

    class Meta:
        verbose_name = "订单状态记录"
        verbose_name_plural = "订单状态记录"
        ordering = ["order_id", "id"]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.from_status} → {self.to_status}"
