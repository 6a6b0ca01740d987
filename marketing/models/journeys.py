"""Lifecycle journeys: replenish reminders (复购提醒) N days after receipt, and win-back coupons for
dormant members. Each send is a row with a unique key, so a beat task run twice sends once.

Order lines and orders are referred to by id only (orders is a higher app: no foreign key)."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from catalog.models import Category, Product
from members.models import Member

from .coupons import Coupon, CouponTemplate


class ReplenishRule(models.Model):
    """Per product or per category (with its sub-categories): `cycle_days` after the goods were
    received the member gets a replenish coupon and/or a subscribe message. A product rule
    wins over a category rule for the same line."""

    name = models.CharField("名称", max_length=60)
    product = models.ForeignKey(
        Product,
        verbose_name="商品",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    category = models.ForeignKey(
        Category,
        verbose_name="分类",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="含下级分类",
    )
    cycle_days = models.PositiveIntegerField("复购周期(天)", default=30)
    coupon_template = models.ForeignKey(
        CouponTemplate,
        verbose_name="复购券",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="留空则只发消息",
    )
    send_message = models.BooleanField("发送订阅消息", default=True)
    is_active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField("创建时间", default=timezone.now)

    class Meta:
        verbose_name = "复购提醒规则"
        verbose_name_plural = "复购提醒规则"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(product__isnull=False, category__isnull=True)
                | Q(product__isnull=True, category__isnull=False),
                name="replenish_rule_product_xor_category",
            ),
            models.CheckConstraint(condition=Q(cycle_days__gte=1), name="replenish_cycle_pos"),
        ]

    def __str__(self) -> str:
        return self.name


class JourneySend(models.Model):
    """One thing a journey sent a member: unique per order line (replenish) or per dormancy
    period (win-back: the id of the member's last paid order when it was sent)."""

    class Kind(models.TextChoices):
        REPLENISH = "replenish", "复购提醒"
        WINBACK = "winback", "沉睡唤醒"
        BIRTHDAY = "birthday", "生日礼券"

    kind = models.CharField("类型", max_length=10, choices=Kind.choices)
    member = models.ForeignKey(
        Member, verbose_name="会员", on_delete=models.CASCADE, related_name="journey_sends"
    )
    rule = models.ForeignKey(
        ReplenishRule,
        verbose_name="规则",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sends",
    )
    order_line_id = models.PositiveBigIntegerField("订单商品ID", null=True, blank=True)
    period_key = models.CharField("周期键", max_length=40, blank=True)
    coupon = models.ForeignKey(
        Coupon,
        verbose_name="优惠券",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    message_sent = models.BooleanField("已发消息", default=False)
    sent_at = models.DateTimeField("发送时间", default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "旅程发送记录"
        verbose_name_plural = "旅程发送记录"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "order_line_id"],
                condition=Q(order_line_id__isnull=False),
                name="journey_send_once_per_line",
            ),
            models.UniqueConstraint(
                fields=["kind", "member", "period_key"],
                condition=Q(order_line_id__isnull=True),
                name="journey_send_once_per_period",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.member_id}"
