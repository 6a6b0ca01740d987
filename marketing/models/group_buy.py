"""拼团 group buying: a campaign per SKU, groups opened by a paying leader, members' seats.

A seat is taken with a conditional UPDATE (`seats_taken < size`) inside order creation, so the
last seat cannot be taken twice; a member holds at most one live seat per group (a partial
unique constraint). Orders live in a higher app: a seat names its order by id and number only.
"""

from datetime import datetime

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from catalog.models import Sku
from members.models import Member


class GroupBuyCampaign(models.Model):
    name = models.CharField("活动名称", max_length=60)
    sku = models.ForeignKey(Sku, verbose_name="SKU", on_delete=models.PROTECT, related_name="+")
    group_price_fen = models.PositiveBigIntegerField(
        "拼团价(分)", validators=[MinValueValidator(1)]
    )
    size = models.PositiveSmallIntegerField(
        "成团人数", default=2, validators=[MinValueValidator(2)]
    )
    form_hours = models.PositiveIntegerField(
        "成团时限(小时)",
        default=24,
        validators=[MinValueValidator(1)],
        help_text="团长支付后开始计时，到时未满员则自动退款",
    )
    starts_at = models.DateTimeField("开始时间")
    ends_at = models.DateTimeField("结束时间")
    is_active = models.BooleanField("启用", default=True)
    auto_complete_with_virtual = models.BooleanField(
        "虚拟成团",
        default=False,
        help_text="到时未满员时以虚拟成员补齐并成团，而不是失败退款",
    )
    created_at = models.DateTimeField("创建时间", default=timezone.now)

    class Meta:
        verbose_name = "拼团活动"
        verbose_name_plural = "拼团活动"
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(size__gte=2), name="group_buy_size_min_2"),
            models.CheckConstraint(
                condition=Q(group_price_fen__gte=1), name="group_buy_price_positive"
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="group_buy_window_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def is_open_at(self, now: datetime) -> bool:
        return self.is_active and self.starts_at <= now < self.ends_at


class Group(models.Model):
    """One group (团): opened by its leader's order, joinable once the leader has paid."""

    class Status(models.TextChoices):
        PENDING = "pending", "待团长支付"
        FORMING = "forming", "拼团中"
        FORMED = "formed", "已成团"
        FAILED = "failed", "已失败"

    campaign = models.ForeignKey(
        GroupBuyCampaign, verbose_name="拼团活动", on_delete=models.PROTECT, related_name="groups"
    )
    leader = models.ForeignKey(
        Member, verbose_name="团长", on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.PENDING)
    size = models.PositiveSmallIntegerField("成团人数")  # copied: a campaign edit never resizes
    seats_taken = models.PositiveSmallIntegerField("已占座位", default=0)
    seats_paid = models.PositiveSmallIntegerField("已支付", default=0)
    virtual_seats = models.PositiveSmallIntegerField("虚拟成员", default=0)
    expires_at = models.DateTimeField("截止时间", null=True, blank=True)
    formed_at = models.DateTimeField("成团时间", null=True, blank=True)
    failed_at = models.DateTimeField("失败时间", null=True, blank=True)
    created_at = models.DateTimeField("开团时间", default=timezone.now)

    class Meta:
        verbose_name = "团"
        verbose_name_plural = "团"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(seats_taken__lte=F("size")), name="group_seats_taken_le_size"
            ),
            models.CheckConstraint(
                condition=Q(seats_paid__lte=F("seats_taken")), name="group_seats_paid_le_taken"
            ),
        ]
        indexes = [
            models.Index(
                fields=["expires_at"], condition=Q(status="forming"), name="group_forming_expiry"
            ),
            models.Index(fields=["campaign", "status"], name="group_campaign_status"),
        ]

    def __str__(self) -> str:
        return f"团#{self.pk}"

    @property
    def seats_left(self) -> int:
        return max(self.size - self.seats_taken, 0)


class GroupMember(models.Model):
    """A member's seat in a group, held by one order (its id and number: orders is a higher app)."""

    class Status(models.TextChoices):
        HELD = "held", "待支付"
        PAID = "paid", "已支付"
        RELEASED = "released", "已释放"
        REFUNDED = "refunded", "已退款"

    group = models.ForeignKey(
        Group, verbose_name="团", on_delete=models.CASCADE, related_name="members"
    )
    member = models.ForeignKey(
        Member, verbose_name="会员", on_delete=models.PROTECT, related_name="+"
    )
    order_id = models.BigIntegerField("订单ID", unique=True)
    order_no = models.CharField("订单号", max_length=32)
    # The order's payable, copied when the seat is taken: the campaign's GMV without reading orders.
    payable_fen = models.PositiveBigIntegerField("订单应付(分)", default=0)
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.HELD)
    is_leader = models.BooleanField("团长", default=False)
    joined_at = models.DateTimeField("参团时间", default=timezone.now)
    paid_at = models.DateTimeField("支付时间", null=True, blank=True)

    class Meta:
        verbose_name = "团成员"
        verbose_name_plural = "团成员"
        ordering = ["group_id", "id"]
        constraints = [
            # A member cannot join a group twice (a released seat does not count).
            models.UniqueConstraint(
                fields=["group", "member"],
                condition=~Q(status="released"),
                name="group_member_unique_live_seat",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group_id}: {self.member_id}"
