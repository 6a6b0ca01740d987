"""Coupons (优惠券): templates the merchant defines, coupons issued to members, redeem codes and
grant-on-spend rules.

Scope ids (categories, products, excluded products) are stored as JSON lists of ids on the
template, so a member's usable coupons load with their templates in one query (the checkout
runs that on every preview). Counters (`issued_count`, `used_count`, a code's `used_count`) move
only with conditional UPDATEs in marketing.services.coupons.
"""

from __future__ import annotations

from datetime import datetime

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from catalog.models import Sku
from members.models import Member


class CouponTemplate(models.Model):
    class Kind(models.TextChoices):
        FULL_REDUCTION = "full_reduction", "满减券"
        DISCOUNT = "discount", "折扣券"
        CASH = "cash", "无门槛代金券"
        EXCHANGE = "exchange", "兑换券"
        SHIPPING = "shipping", "运费券"

    class Scope(models.TextChoices):
        ALL = "all", "全部商品"
        CATEGORIES = "categories", "指定分类"
        PRODUCTS = "products", "指定商品"

    class Validity(models.TextChoices):
        FIXED = "fixed", "固定时间段"
        RELATIVE = "relative", "领取后N天"

    name = models.CharField("名称", max_length=60)
    description = models.CharField("使用说明", max_length=200, blank=True)
    kind = models.CharField("类型", max_length=20, choices=Kind.choices)
    threshold_fen = models.PositiveBigIntegerField(
        "使用门槛(分)", default=0, help_text="适用商品金额满此值可用；0 表示无门槛"
    )
    amount_fen = models.PositiveBigIntegerField(
        "面额(分)", default=0, help_text="满减券/代金券减免金额；运费券最多抵扣的运费(0 表示全免)"
    )
    rate_bp = models.PositiveIntegerField(
        "折扣率(万分比)",
        default=10000,
        validators=[MinValueValidator(1), MaxValueValidator(10000)],
        help_text="折扣券：支付比例，85折 = 8500",
    )
    cap_fen = models.PositiveBigIntegerField(
        "最多优惠(分)", default=0, help_text="折扣券优惠上限；0 表示不封顶"
    )
    sku = models.ForeignKey(
        Sku,
        verbose_name="兑换SKU",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="兑换券：免费得一件此 SKU（需在订单中）",
    )
    scope = models.CharField("适用范围", max_length=20, choices=Scope.choices, default=Scope.ALL)
    # A category includes its descendants: order lines carry their category and its ancestors.
    category_ids = models.JSONField("适用分类ID", default=list, blank=True)
    product_ids = models.JSONField("适用商品ID", default=list, blank=True)
    excluded_product_ids = models.JSONField("排除商品ID", default=list, blank=True)
    validity = models.CharField(
        "有效期类型", max_length=10, choices=Validity.choices, default=Validity.FIXED
    )
    starts_at = models.DateTimeField("生效时间", null=True, blank=True)
    ends_at = models.DateTimeField("失效时间", null=True, blank=True)
    valid_days = models.PositiveIntegerField("领取后有效天数", default=0)
    total_quantity = models.PositiveIntegerField(
        "发行总量", null=True, blank=True, help_text="留空表示不限量"
    )
    issued_count = models.PositiveIntegerField("已发放", default=0, editable=False)
    used_count = models.PositiveIntegerField("已使用", default=0, editable=False)
    per_member_limit = models.PositiveIntegerField(
        "每人限领", default=1, help_text="领券中心领取与兑换码兑换计入；商家发放不计入"
    )
    is_claimable = models.BooleanField("在领券中心展示", default=False)
    # Data for the stacking rules of the campaigns' PromotionProvider.
    stackable_with_campaigns = models.BooleanField("可与促销活动叠加", default=True)
    is_active = models.BooleanField(
        "启用", default=True, help_text="停用后不再发放；已发出的券仍可使用"
    )
    created_at = models.DateTimeField("创建时间", default=timezone.now)

    class Meta:
        verbose_name = "优惠券模板"
        verbose_name_plural = "优惠券模板"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(total_quantity__isnull=True)
                | Q(issued_count__lte=models.F("total_quantity")),
                name="coupon_template_issued_within_total",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Coupon(models.Model):
    """A coupon a member holds. `expired` is also derived: an unused coupon past valid_until."""

    class Status(models.TextChoices):
        UNUSED = "unused", "未使用"
        LOCKED = "locked", "待支付订单占用"
        USED = "used", "已使用"
        EXPIRED = "expired", "已过期"
        REVOKED = "revoked", "已作废"  # a 消费返券 coupon whose order was refunded in full

    class Source(models.TextChoices):
        CLAIM = "claim", "领券中心"
        MERCHANT = "merchant", "商家发放"
        CODE = "code", "兑换码"
        SPEND = "spend", "消费返券"
        JOURNEY = "journey", "自动营销"
        REFERRAL = "referral", "邀请有礼"
        POINTS_MALL = "points_mall", "积分商城"

    member = models.ForeignKey(
        Member, verbose_name="会员", on_delete=models.CASCADE, related_name="coupons"
    )
    template = models.ForeignKey(
        CouponTemplate, verbose_name="模板", on_delete=models.PROTECT, related_name="coupons"
    )
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.UNUSED)
    valid_from = models.DateTimeField("生效时间")
    valid_until = models.DateTimeField("失效时间")
    source = models.CharField("来源", max_length=20, choices=Source.choices)
    # What issued it, for idempotency: "order:<id>" (spend), "code:<id>", a journey's key …
    source_ref = models.CharField("来源标识", max_length=64, blank=True, default="")
    # Claims and code redemptions take a numbered slot 1..per_member_limit: a unique slot per
    # (template, member) is how the limit holds under concurrent claims, without locking Member.
    member_slot = models.PositiveIntegerField(null=True, blank=True, editable=False)
    order_id = models.BigIntegerField("订单ID", null=True, blank=True)  # orders is a higher app
    locked_at = models.DateTimeField("占用时间", null=True, blank=True)
    used_at = models.DateTimeField("使用时间", null=True, blank=True)
    created_at = models.DateTimeField("领取时间", default=timezone.now)

    class Meta:
        verbose_name = "优惠券"
        verbose_name_plural = "优惠券"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "member", "source_ref"],
                condition=~Q(source_ref=""),
                name="coupon_unique_source_ref",
            ),
            models.UniqueConstraint(
                fields=["template", "member", "member_slot"],
                condition=Q(member_slot__isnull=False),
                name="coupon_unique_member_slot",
            ),
        ]
        indexes = [
            models.Index(fields=["member", "status", "valid_until"], name="coupon_member_status"),
            models.Index(
                fields=["order_id"], condition=Q(order_id__isnull=False), name="coupon_order"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template_id}→{self.member_id} #{self.pk}"

    def display_status(self, now: datetime | None = None) -> str:
        now = now or timezone.now()
        if self.status == self.Status.UNUSED and self.valid_until <= now:
            return self.Status.EXPIRED
        return self.status


class CouponCodeBatch(models.Model):
    """A batch of redeem codes: N single-use generated codes, or one shared code with a limit."""

    class Kind(models.TextChoices):
        SINGLE = "single", "一码一用(批量生成)"
        SHARED = "shared", "通用码(限次数)"

    template = models.ForeignKey(
        CouponTemplate, verbose_name="模板", on_delete=models.PROTECT, related_name="code_batches"
    )
    name = models.CharField("批次名称", max_length=60)
    kind = models.CharField("类型", max_length=10, choices=Kind.choices)
    quantity = models.PositiveIntegerField(
        "数量", help_text="一码一用：生成的券码个数；通用码：可兑换总次数"
    )
    created_at = models.DateTimeField("创建时间", default=timezone.now)

    class Meta:
        verbose_name = "兑换码批次"
        verbose_name_plural = "兑换码批次"
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name


class CouponCode(models.Model):
    batch = models.ForeignKey(
        CouponCodeBatch, verbose_name="批次", on_delete=models.CASCADE, related_name="codes"
    )
    template = models.ForeignKey(
        CouponTemplate, verbose_name="模板", on_delete=models.PROTECT, related_name="codes"
    )
    code = models.CharField("兑换码", max_length=32, unique=True)
    max_uses = models.PositiveIntegerField("可兑换次数", default=1)
    used_count = models.PositiveIntegerField("已兑换次数", default=0)
    is_active = models.BooleanField("启用", default=True)

    class Meta:
        verbose_name = "兑换码"
        verbose_name_plural = "兑换码"
        ordering = ["batch_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(used_count__lte=models.F("max_uses")),
                name="coupon_code_used_within_max",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class CouponSpendRule(models.Model):
    """消费返券: an order paid with at least min_paid_fen gives these templates (once per order)."""

    name = models.CharField("名称", max_length=60)
    min_paid_fen = models.PositiveBigIntegerField("实付满(分)")
    templates = models.ManyToManyField(
        CouponTemplate, verbose_name="赠送的券", related_name="spend_rules"
    )
    starts_at = models.DateTimeField("开始时间", null=True, blank=True)
    ends_at = models.DateTimeField("结束时间", null=True, blank=True)
    is_active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField("创建时间", default=timezone.now)

    class Meta:
        verbose_name = "消费返券规则"
        verbose_name_plural = "消费返券规则"
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name
