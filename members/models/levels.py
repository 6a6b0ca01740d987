"""Member levels (会员等级): defined by the merchant, reached by growth (成长值) from paid amounts."""

from django.db import models
from django.utils import timezone


class MemberLevel(models.Model):
    """A level the merchant defines. A member holds the highest level whose growth threshold
    their growth reaches (recomputed up and down when growth changes)."""

    name = models.CharField("等级名称", max_length=20)
    growth_threshold = models.PositiveBigIntegerField("成长值门槛", unique=True)
    # The rate paid on goods in basis points: 9500 = 95折; 10000 = no discount.
    discount_bp = models.PositiveSmallIntegerField("商品折扣(万分比)", default=10_000)
    # 会员包邮: LevelDiscountProvider.apply_shipping takes the whole fee off.
    free_shipping = models.BooleanField("包邮", default=False)
    # Basis points: 15000 = 1.5 × the points of a payment.
    points_multiplier_bp = models.PositiveIntegerField("积分倍率(万分比)", default=10_000)
    # A marketing coupon template id (members must not import marketing): the birthday journey
    # (marketing.services.journeys.birthday_run) issues it on the member's birthday.
    birthday_coupon_template_id = models.PositiveIntegerField("生日券模板ID", null=True, blank=True)
    created_at = models.DateTimeField("创建时间", default=timezone.now)

    class Meta:
        verbose_name = "会员等级"
        verbose_name_plural = "会员等级"
        ordering = ["growth_threshold"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(discount_bp__gte=1, discount_bp__lte=10_000),
                name="member_level_discount_bp_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def discount_label(self) -> str:
        """9500 → "95折", 9000 → "9折", 9850 → "98.5折"."""
        if self.discount_bp >= 10_000:
            return "无折扣"
        if self.discount_bp % 1000 == 0:
            return f"{self.discount_bp // 1000}折"
        if self.discount_bp % 100 == 0:
            return f"{self.discount_bp // 100}折"
        return f"{self.discount_bp / 100:g}折"


class GrowthLog(models.Model):
    """One growth change, unique per event (a payment, a refund), so a replay adds nothing."""

    class Kind(models.TextChoices):
        ORDER_PAID = "order_paid", "订单支付"
        REFUND = "refund", "退款扣减"
        ADJUST = "adjust", "人工调整"

    member = models.ForeignKey(
        "members.Member", verbose_name="会员", on_delete=models.CASCADE, related_name="growth_logs"
    )
    kind = models.CharField("类型", max_length=12, choices=Kind.choices)
    reference = models.CharField("来源", max_length=80)
    order_no = models.CharField("订单号", max_length=32, blank=True, db_index=True)
    amount_fen = models.BigIntegerField("金额(分)", default=0)
    growth = models.BigIntegerField("成长值变化")
    growth_after = models.PositiveBigIntegerField("变化后成长值")
    created_at = models.DateTimeField("时间", default=timezone.now)

    class Meta:
        verbose_name = "成长值记录"
        verbose_name_plural = "成长值记录"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "reference"], name="growth_log_kind_reference")
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.growth:+d} ({self.reference})"


class LevelChangeLog(models.Model):
    member = models.ForeignKey(
        "members.Member",
        verbose_name="会员",
        on_delete=models.CASCADE,
        related_name="level_changes",
    )
    from_level = models.ForeignKey(
        MemberLevel,
        verbose_name="原等级",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    to_level = models.ForeignKey(
        MemberLevel,
        verbose_name="新等级",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    growth = models.PositiveBigIntegerField("成长值")
    reference = models.CharField("原因", max_length=80, blank=True)
    created_at = models.DateTimeField("时间", default=timezone.now)

    class Meta:
        verbose_name = "等级变更记录"
        verbose_name_plural = "等级变更记录"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.from_level_id} → {self.to_level_id}"
