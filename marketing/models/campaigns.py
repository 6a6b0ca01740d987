"""Campaigns (营销活动): 满减/满折, 限时折扣, N元N件, 买赠 over a time window.

The arithmetic is in `marketing.campaign_rules`; pricing reaches campaigns through the providers
in `marketing.providers.campaigns`. Orders are referred to by id and number only (orders is a
higher app)."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from catalog.models import Category, Product, Sku
from members.models import Member


class Campaign(models.Model):
    class Kind(models.TextChoices):
        FULL_REDUCTION = "full_reduction", "满减"
        FULL_DISCOUNT = "full_discount", "满折"
        LIMITED_TIME = "limited_time", "限时折扣"
        N_FOR_PRICE = "n_for_price", "N元N件"
        BUY_GIFT = "buy_gift", "买赠"

    class Scope(models.TextChoices):
        ALL = "all", "全部商品"
        CATEGORIES = "categories", "指定分类（含子分类）"
        PRODUCTS = "products", "指定商品"

    class ThresholdType(models.TextChoices):
        AMOUNT = "amount", "按金额"
        COUNT = "count", "按件数"

    name = models.CharField("活动名称", max_length=60)
    description = models.CharField("活动说明", max_length=200, blank=True)
    kind = models.CharField("活动类型", max_length=20, choices=Kind.choices)
    starts_at = models.DateTimeField("开始时间")
    ends_at = models.DateTimeField("结束时间")
    is_active = models.BooleanField("启用", default=True)
    ended_early_at = models.DateTimeField("提前结束于", null=True, blank=True)
    scope = models.CharField("适用范围", max_length=12, choices=Scope.choices, default=Scope.ALL)
    categories = models.ManyToManyField(
        Category, verbose_name="适用分类", blank=True, related_name="+"
    )
    products = models.ManyToManyField(
        Product, verbose_name="适用商品", blank=True, related_name="+"
    )
    excluded_products = models.ManyToManyField(
        Product, verbose_name="排除商品", blank=True, related_name="+"
    )
    member_level_ids = models.JSONField(
        "可参与的会员等级", default=list, blank=True, help_text="会员等级 ID 列表；留空表示所有人"
    )
    priority = models.IntegerField("优先级", default=0, help_text="数字越大越优先")
    stack_group = models.CharField(
        "互斥组", max_length=30, blank=True, help_text="同一互斥组的活动不会同时用于同一件商品"
    )
    combinable_kinds = models.JSONField(
        "可叠加的活动类型",
        default=list,
        blank=True,
        help_text="可与本活动同时用于同一件商品的活动类型（双方都需列出对方）；新建时留空则按活动类型默认",
    )
    stackable_with_coupons = models.BooleanField("可与优惠券同享", default=True)
    threshold_type = models.CharField(
        "门槛类型", max_length=10, choices=ThresholdType.choices, default=ThresholdType.AMOUNT
    )
    is_repeat = models.BooleanField(
        "上不封顶", default=False, help_text="满减：每满门槛减一次（只用最低一档）"
    )
    bundle_quantity = models.PositiveIntegerField("N元N件：件数", default=0)
    bundle_price_fen = models.PositiveBigIntegerField("N元N件：价格(分)", default=0)
    buy_quantity = models.PositiveIntegerField("买赠：买几件", default=0)
    gift_quantity = models.PositiveIntegerField("买赠：送几件", default=0)
    # Empty: the gift is more of the same SKU (买二送一). Set: every buy_quantity units of the
    # scope bring gift_quantity units of this SKU, free, as their own order line (赠完即止).
    gift_sku = models.ForeignKey(
        "catalog.Sku",
        verbose_name="买赠：赠品 SKU（空 = 同款）",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "营销活动"
        verbose_name_plural = "营销活动"
        ordering = ("-starts_at", "-id")
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="campaign_window_valid"
            ),
        ]
        indexes = [models.Index(fields=["is_active", "ends_at"], name="campaign_live_idx")]

    def __str__(self) -> str:
        return self.name


class CampaignTier(models.Model):
    """满减 tier (threshold → reduce_fen) or 满折 tier (threshold → rate_bp)."""

    campaign = models.ForeignKey(
        Campaign, verbose_name="活动", on_delete=models.CASCADE, related_name="tiers"
    )
    threshold = models.PositiveBigIntegerField("门槛", help_text="按金额时为分，按件数时为件")
    reduce_fen = models.PositiveBigIntegerField("减(分)", default=0)
    rate_bp = models.PositiveIntegerField(
        "折扣率(万分比)",
        default=10_000,
        validators=[MinValueValidator(0), MaxValueValidator(10_000)],
        help_text="满折：支付比例，9折 = 9000",
    )

    class Meta:
        verbose_name = "活动档位"
        verbose_name_plural = "活动档位"
        ordering = ("threshold", "id")

    def __str__(self) -> str:
        return f"{self.campaign_id}: ≥{self.threshold}"


class CampaignItem(models.Model):
    """A 限时折扣 SKU: special price or rate, and 限购 per member."""

    campaign = models.ForeignKey(
        Campaign, verbose_name="活动", on_delete=models.CASCADE, related_name="items"
    )
    sku = models.ForeignKey(Sku, verbose_name="SKU", on_delete=models.CASCADE, related_name="+")
    price_fen = models.PositiveBigIntegerField("活动价(分)", null=True, blank=True)
    rate_bp = models.PositiveIntegerField(
        "折扣率(万分比)",
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(10_000)],
        help_text="不填活动价时按原价乘以此比例，8折 = 8000",
    )
    limit_per_member = models.PositiveIntegerField("每人限购", default=0, help_text="0 表示不限")

    class Meta:
        verbose_name = "限时折扣商品"
        verbose_name_plural = "限时折扣商品"
        constraints = [
            models.UniqueConstraint(fields=["campaign", "sku"], name="campaign_item_unique"),
            models.CheckConstraint(
                condition=Q(price_fen__isnull=False) | Q(rate_bp__isnull=False),
                name="campaign_item_price_or_rate",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}: SKU {self.sku_id}"


class CampaignPurchase(models.Model):
    """限购 counter: units of a SKU a member holds in pending or paid orders of a campaign.
    Taken with a conditional UPDATE at order creation, given back on cancel/expiry/refund."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="purchases")
    sku = models.ForeignKey(Sku, on_delete=models.CASCADE, related_name="+")
    quantity = models.PositiveIntegerField("已购件数", default=0)

    class Meta:
        verbose_name = "限购计数"
        verbose_name_plural = "限购计数"
        constraints = [
            models.UniqueConstraint(
                fields=["member", "campaign", "sku"], name="campaign_purchase_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}/{self.campaign_id}/{self.sku_id}: {self.quantity}"


class CampaignUsage(models.Model):
    """One order's use of a campaign: the admin's orders / GMV / discount figures, and what a
    cancel gives back (`units`: {sku id: units} taken from 限购 counters)."""

    class Status(models.TextChoices):
        PENDING = "pending", "待支付"
        PAID = "paid", "已支付"
        CANCELLED = "cancelled", "已取消"
        REFUNDED = "refunded", "已退款"

    campaign = models.ForeignKey(
        Campaign, verbose_name="活动", on_delete=models.CASCADE, related_name="usages"
    )
    member = models.ForeignKey(
        Member, verbose_name="会员", on_delete=models.CASCADE, related_name="+"
    )
    order_id = models.BigIntegerField("订单 ID")
    order_no = models.CharField("订单号", max_length=32)
    discount_fen = models.PositiveBigIntegerField("优惠金额(分)")
    goods_fen = models.PositiveBigIntegerField("活动商品金额(分)")
    units = models.JSONField("限购占用", default=dict, blank=True)
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField("时间", auto_now_add=True)

    class Meta:
        verbose_name = "活动订单"
        verbose_name_plural = "活动订单"
        constraints = [
            models.UniqueConstraint(fields=["campaign", "order_id"], name="campaign_usage_unique"),
        ]
        indexes = [models.Index(fields=["order_id"], name="campaign_usage_order_idx")]

    def __str__(self) -> str:
        return f"{self.campaign_id}: {self.order_no}"
