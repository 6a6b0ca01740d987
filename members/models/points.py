"""Points (积分): earn lots spent first-in-first-out by expiry, and an append-only ledger.

`Member.points_balance` is the spendable balance: always Σ ledger points of the member, and Σ
`remaining` of the member's vested lots. A pending lot (earned by a paid order, waiting for the
after-sales window) is not spendable and has no ledger row until it vests.
"""

from django.db import models
from django.utils import timezone


class PointsLot(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "待生效"
        VESTED = "vested", "已生效"
        CANCELLED = "cancelled", "已取消"

    member = models.ForeignKey(
        "members.Member", verbose_name="会员", on_delete=models.CASCADE, related_name="points_lots"
    )
    source_key = models.CharField("来源", max_length=80, unique=True)  # "order:<no>", "signin:…"
    order_no = models.CharField("订单号", max_length=32, blank=True, db_index=True)
    status = models.CharField("状态", max_length=10, choices=Status.choices)
    points = models.PositiveIntegerField("获得积分")
    remaining = models.PositiveIntegerField("剩余积分")
    # Order lots: the paid amount that earned them, what refunds took back so far, and the
    # points reversed for it (refunds reverse in proportion).
    basis_fen = models.PositiveBigIntegerField("计算金额(分)", default=0)
    refunded_fen = models.PositiveBigIntegerField("已退款(分)", default=0)
    reversed_points = models.PositiveIntegerField("已扣回积分", default=0)
    earned_at = models.DateTimeField("获得时间", default=timezone.now)
    vests_at = models.DateTimeField("生效时间", null=True, blank=True)  # null while pending
    expires_at = models.DateTimeField("过期时间")
    expiry_notified_at = models.DateTimeField("到期提醒时间", null=True, blank=True)
    expired_at = models.DateTimeField("过期处理时间", null=True, blank=True)

    class Meta:
        verbose_name = "积分批次"
        verbose_name_plural = "积分批次"
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["member", "expires_at", "id"],
                condition=models.Q(status="vested", remaining__gt=0),
                name="points_lot_spendable",
            ),
            models.Index(
                fields=["expires_at", "id"],
                condition=models.Q(status="vested", remaining__gt=0),
                name="points_lot_expiring",
            ),
            models.Index(
                fields=["id"], condition=models.Q(status="pending"), name="points_lot_pending"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_key}: {self.remaining}/{self.points}"


class PointsLedger(models.Model):
    class Kind(models.TextChoices):
        EARN = "earn", "获得"
        VEST = "vest", "生效"
        SPEND = "spend", "使用"
        EXPIRE = "expire", "过期"
        REVERSE = "reverse", "退款扣回"
        REFUND = "refund", "退还"
        ADJUST = "adjust", "人工调整"

    member = models.ForeignKey(
        "members.Member",
        verbose_name="会员",
        on_delete=models.CASCADE,
        related_name="points_ledger",
    )
    kind = models.CharField("类型", max_length=10, choices=Kind.choices)
    points = models.IntegerField("积分变化")
    balance_after = models.PositiveIntegerField("变化后余额")
    reference = models.CharField("来源", max_length=80)
    lot = models.ForeignKey(
        PointsLot,
        verbose_name="积分批次",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_entries",
    )
    note = models.CharField("说明", max_length=200, blank=True)
    operator = models.CharField("操作人", max_length=80, blank=True)
    created_at = models.DateTimeField("时间", default=timezone.now)

    class Meta:
        verbose_name = "积分流水"
        verbose_name_plural = "积分流水"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "reference"], name="points_ledger_kind_reference"
            )
        ]
        indexes = [models.Index(fields=["member", "-id"], name="points_ledger_member")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.points:+d} ({self.reference})"


class PointsSpendPart(models.Model):
    """Which lot a spend took how many points from, so its refund gives the same lots back."""

    spend = models.ForeignKey(PointsLedger, on_delete=models.CASCADE, related_name="parts")
    lot = models.ForeignKey(PointsLot, on_delete=models.PROTECT, related_name="spend_parts")
    points = models.PositiveIntegerField()

    class Meta:
        verbose_name = "积分使用明细"
        verbose_name_plural = "积分使用明细"

    def __str__(self) -> str:
        return f"{self.spend_id} ← {self.lot_id}: {self.points}"
