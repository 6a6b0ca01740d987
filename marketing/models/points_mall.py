"""Points mall (积分商城): items bought with points (plus an optional cash part).

A SKU item is exchanged through a normal order (promotion kind "points_mall"); a coupon item is
exchanged directly. Orders are referred to by id and number only (orders is a higher app)."""

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from catalog.models import Sku
from members.models import Member

from .coupons import Coupon, CouponTemplate


class PointsMallItem(models.Model):
    class Kind(models.TextChoices):
        SKU = "sku", "商品"
        COUPON = "coupon", "优惠券"

    title = models.CharField("名称", max_length=60)
    kind = models.CharField("类型", max_length=10, choices=Kind.choices)
    sku = models.ForeignKey(
        Sku, verbose_name="SKU", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    coupon_template = models.ForeignKey(
        CouponTemplate,
        verbose_name="优惠券模板",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    points = models.PositiveIntegerField("所需积分", validators=[MinValueValidator(1)])
    cash_fen = models.PositiveBigIntegerField(
        "加钱(分)", default=0, help_text="积分+现金：另需支付的金额；0 表示纯积分兑换"
    )
    stock = models.PositiveIntegerField("可兑换库存", default=0)
    per_member_limit = models.PositiveIntegerField("每人限兑", default=1)
    exchanged_count = models.PositiveIntegerField("已兑换", default=0, editable=False)
    sort_order = models.IntegerField("排序", default=0, help_text="小的在前")
    is_active = models.BooleanField("上架", default=True)
    created_at = models.DateTimeField("创建时间", default=timezone.now)

    class Meta:
        verbose_name = "积分商城商品"
        verbose_name_plural = "积分商城商品"
        ordering = ["sort_order", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="sku", sku__isnull=False)
                | Q(kind="coupon", coupon_template__isnull=False, cash_fen=0),
                name="points_mall_item_target",
            ),
            models.CheckConstraint(condition=Q(points__gte=1), name="points_mall_item_points"),
        ]

    def __str__(self) -> str:
        return self.title


class PointsMallExchange(models.Model):
    """One exchange: a SKU item's order (order_id unique) or a coupon item's direct exchange
    (client_token unique per member)."""

    class Status(models.TextChoices):
        HELD = "held", "待支付"  # the order is not paid yet
        DONE = "done", "已兑换"
        RELEASED = "released", "已取消"  # the order was cancelled or expired: stock back
        REFUNDED = "refunded", "已退款"  # the order was fully refunded: stock and points back

    member = models.ForeignKey(
        Member, verbose_name="会员", on_delete=models.CASCADE, related_name="points_exchanges"
    )
    item = models.ForeignKey(
        PointsMallItem, verbose_name="兑换商品", on_delete=models.PROTECT, related_name="exchanges"
    )
    quantity = models.PositiveIntegerField("数量", default=1)
    points = models.PositiveIntegerField("消耗积分")
    cash_fen = models.PositiveBigIntegerField("现金部分(分)", default=0)
    order_id = models.PositiveBigIntegerField("订单ID", null=True, blank=True, unique=True)
    order_no = models.CharField("订单号", max_length=32, blank=True)
    coupon = models.ForeignKey(
        Coupon,
        verbose_name="优惠券",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    client_token = models.CharField("幂等键", max_length=64, blank=True, editable=False)
    status = models.CharField("状态", max_length=10, choices=Status.choices)
    created_at = models.DateTimeField("兑换时间", default=timezone.now)

    class Meta:
        verbose_name = "积分兑换记录"
        verbose_name_plural = "积分兑换记录"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "client_token"],
                condition=~Q(client_token=""),
                name="points_exchange_unique_token",
            ),
        ]
        indexes = [models.Index(fields=["member", "item"], name="points_exchange_member_item")]

    def __str__(self) -> str:
        return f"{self.item_id} × {self.quantity} → {self.member_id}"
