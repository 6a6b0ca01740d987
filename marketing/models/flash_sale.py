"""秒杀 flash sales: sessions of a day (10:00, 14:00, 20:00 …), their items, and each order's take.

An item's units are carved out of the SKU's stock when it is activated (a logged stock move) into
its own pool (`flash_stock`); flash orders take from that pool with a conditional UPDATE, never
from the SKU's stock. Units of unpaid orders go back to the pool (or to the SKU once the session
has ended and returned its rest). Invariant: total_stock = flash_stock + held + sold, where held
and sold are the quantities of FlashPurchase rows in those states.

Redis (marketing/flash_gate.py) admits buyers in front of the database; the database is the
source of truth and the Redis counters are rebuilt from it (flash_counters_reconcile).
Orders live in a higher app: a purchase names its order by id only.
"""

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from catalog.models import Sku
from members.models import Member


class FlashSession(models.Model):
    name = models.CharField("场次", max_length=40, help_text="如 10:00 场")
    starts_at = models.DateTimeField("开始时间", db_index=True)
    ends_at = models.DateTimeField("结束时间")
    is_active = models.BooleanField("启用", default=True)
    # Set when the session has ended and its items' unsold units went back to the SKUs.
    closed_at = models.DateTimeField("结束并退回库存时间", null=True, blank=True, editable=False)
    created_at = models.DateTimeField("创建时间", default=timezone.now)

    class Meta:
        verbose_name = verbose_name_plural = "秒杀场次"
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="flash_session_ends_after_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name}（{timezone.localtime(self.starts_at):%m-%d %H:%M}）"


class FlashItem(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "未生效"  # saved, units not carved out of the SKU yet
        ACTIVE = "active", "进行中"
        RETURNED = "returned", "已结束(余量已退回)"

    session = models.ForeignKey(
        FlashSession, verbose_name="场次", on_delete=models.CASCADE, related_name="items"
    )
    sku = models.ForeignKey(Sku, verbose_name="SKU", on_delete=models.PROTECT, related_name="+")
    flash_price_fen = models.PositiveBigIntegerField(
        "秒杀价(分)", validators=[MinValueValidator(1)]
    )
    total_stock = models.PositiveIntegerField(
        "秒杀总量", validators=[MinValueValidator(1)], help_text="生效时从 SKU 库存划出"
    )
    flash_stock = models.PositiveIntegerField("剩余秒杀库存", default=0, editable=False)
    sold = models.PositiveIntegerField("已售(已支付)", default=0, editable=False)
    per_member_limit = models.PositiveIntegerField(
        "每人限购", default=1, validators=[MinValueValidator(1)]
    )
    status = models.CharField(
        "状态", max_length=10, choices=Status.choices, default=Status.DRAFT, editable=False
    )
    sort_order = models.IntegerField("排序", default=0, help_text="小的在前")
    created_at = models.DateTimeField("创建时间", default=timezone.now)

    class Meta:
        verbose_name = verbose_name_plural = "秒杀商品"
        ordering = ["sort_order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["session", "sku"], name="flash_item_one_per_session")
        ]

    def __str__(self) -> str:
        return f"秒杀#{self.pk} SKU {self.sku_id}"


class FlashPurchase(models.Model):
    """What one order took from an item's pool; its status changes once each way (conditional
    UPDATEs), so paying and releasing happen exactly once."""

    class Status(models.TextChoices):
        HELD = "held", "待支付"
        PAID = "paid", "已支付"
        RELEASED = "released", "已释放"  # unpaid order cancelled or expired: units back
        REFUNDED = "refunded", "已退款"  # paid, then fully refunded: no longer sold

    order_id = models.BigIntegerField("订单ID", unique=True)
    order_no = models.CharField("订单号", max_length=32, db_index=True)
    item = models.ForeignKey(
        FlashItem, verbose_name="秒杀商品", on_delete=models.PROTECT, related_name="purchases"
    )
    member = models.ForeignKey(
        Member, verbose_name="会员", on_delete=models.PROTECT, related_name="+"
    )
    quantity = models.PositiveIntegerField("数量")
    # The admission the order used (null in the embedded mode without Redis): one order each.
    admission_token = models.CharField(
        "抢购资格", max_length=40, null=True, blank=True, unique=True
    )
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.HELD)
    created_at = models.DateTimeField("创建时间", default=timezone.now)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "秒杀订单占用"
        indexes = [models.Index(fields=["item", "member", "status"], name="flash_purchase_member")]

    def __str__(self) -> str:
        return f"{self.order_no} × {self.quantity}"
