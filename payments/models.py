"""WeChat Pay attempts, the money ledger, refunds and reconciliation runs.

Amounts are integer fen. Every movement of money is one `LedgerEntry` with a unique external key
("wxpay:<transaction_id>", "wxrefund:<out_refund_no>"), so a replayed notification, a query that
races a notification, or a re-delivered task inserts nothing the second time.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from members.models import Member
from orders.models import Order, OrderLine


class TopUpTier(models.Model):
    """A stored-value bonus rule (充100送10): a top-up of at least threshold_fen gets bonus_fen;
    the best active tier is decided when the top-up is created."""

    threshold_fen = models.PositiveBigIntegerField("充值满(分)")
    bonus_fen = models.PositiveBigIntegerField("赠送(分)")
    is_active = models.BooleanField("启用", default=True)

    class Meta:
        verbose_name = "充值赠送档位"
        verbose_name_plural = "充值赠送档位"
        ordering = ["threshold_fen", "id"]

    def __str__(self) -> str:
        return f"充{self.threshold_fen}送{self.bonus_fen}"


class TopUp(models.Model):
    """A stored-value top-up paid by WeChat Pay; amount + bonus reach the balance when paid."""

    class Status(models.TextChoices):
        PENDING = "pending", "待支付"
        PAID = "paid", "已到账"
        REFUNDING = "refunding", "退款中"  # balance taken back, WeChat is refunding the amount
        REFUNDED = "refunded", "已退款"

    member = models.ForeignKey(
        Member, verbose_name="会员", on_delete=models.PROTECT, related_name="top_ups"
    )
    no = models.CharField("充值单号", max_length=24, unique=True)
    amount_fen = models.PositiveBigIntegerField("充值金额(分)")
    bonus_fen = models.PositiveBigIntegerField("赠送金额(分)", default=0)
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.PENDING)
    client_token = models.CharField("幂等键", max_length=64)
    paid_at = models.DateTimeField("到账时间", null=True, blank=True)
    created_at = models.DateTimeField("创建时间", default=timezone.now)

    class Meta:
        verbose_name = "余额充值"
        verbose_name_plural = "余额充值"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "client_token"], name="top_up_member_client_token"
            ),
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="top_up_amount_positive"),
        ]

    def __str__(self) -> str:
        return self.no


class PaymentAttempt(models.Model):
    """One WeChat Pay trade (unifiedorder) for an order or a stored-value top-up (exactly one):
    out_trade_no = order (or top-up) no + "P" + seq.

    An order gets a new attempt when its prepay can no longer be reused; at most one attempt
    pays the order, a second one that WeChat reports paid is recorded and refunded automatically.
    """

    class Status(models.TextChoices):
        CREATED = "created", "已创建"  # unifiedorder not answered (yet)
        PREPAID = "prepaid", "待支付"  # WeChat gave a prepay_id
        PAID = "paid", "已支付"
        CLOSED = "closed", "已关闭"

    OPEN_STATUSES = (Status.CREATED, Status.PREPAID)

    order = models.ForeignKey(
        Order,
        verbose_name="订单",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payment_attempts",
    )
    top_up = models.ForeignKey(
        TopUp,
        verbose_name="余额充值",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payment_attempts",
    )
    seq = models.PositiveIntegerField("序号")
    # Unique by constraints in Meta, not unique=True: that would add a LIKE (pattern_ops) index
    # nothing queries, written on every payment.
    out_trade_no = models.CharField("商户订单号", max_length=32)
    amount_fen = models.PositiveBigIntegerField("金额(分)")
    prepay_id = models.CharField("预支付ID", max_length=64, blank=True)
    prepay_expires_at = models.DateTimeField("预支付有效期", null=True, blank=True)
    time_expire = models.DateTimeField("微信订单失效时间", null=True, blank=True)
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.CREATED)
    # NULL until paid (unique among the paid, see Meta), not "": many attempts have none.
    transaction_id = models.CharField(  # noqa: DJ001
        "微信支付单号", max_length=32, null=True, blank=True
    )
    paid_at = models.DateTimeField("支付时间", null=True, blank=True)
    closed_at = models.DateTimeField("关闭时间", null=True, blank=True)
    last_error = models.CharField("最近错误", max_length=200, blank=True)
    created_at = models.DateTimeField("创建时间", default=timezone.now)

    class Meta:
        verbose_name = "支付单"
        verbose_name_plural = "支付单"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["out_trade_no"], name="payment_attempt_out_trade_no"),
            models.UniqueConstraint(
                fields=["transaction_id"], name="payment_attempt_transaction_id"
            ),
            models.UniqueConstraint(fields=["order", "seq"], name="payment_attempt_order_seq"),
            models.UniqueConstraint(fields=["top_up", "seq"], name="payment_attempt_top_up_seq"),
            models.CheckConstraint(
                condition=Q(order__isnull=False, top_up__isnull=True)
                | Q(order__isnull=True, top_up__isnull=False),
                name="payment_attempt_order_xor_top_up",
            ),
        ]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(status__in=["created", "prepaid"]),
                name="payment_attempt_open",
            ),
        ]

    def __str__(self) -> str:
        return self.out_trade_no


class Refund(models.Model):
    """A refund of (part of) an order, or of a whole attempt that paid an order no longer
    payable (then it has no lines), or of a stored-value top-up (exactly one of order and
    top_up). Lines' refunded amounts change only when WeChat says SUCCESS."""

    class Status(models.TextChoices):
        PENDING = "pending", "待提交"
        PROCESSING = "processing", "退款中"
        SUCCESS = "success", "已退款"
        # WeChat CHANGE: the money left us but did not reach the shopper's card (card closed or
        # frozen); WeChat still counts it as refunded, so a person settles it with the shopper.
        CHANGE = "change", "退款异常，需人工处理"
        CLOSED = "closed", "已关闭"  # WeChat REFUNDCLOSE, or WeChat refused the request

    # Refunds whose amount counts against what can still be refunded.
    RESERVING_STATUSES = (Status.PENDING, Status.PROCESSING, Status.SUCCESS, Status.CHANGE)
    IN_FLIGHT_STATUSES = (Status.PENDING, Status.PROCESSING)

    order = models.ForeignKey(
        Order,
        verbose_name="订单",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="refunds",
    )
    top_up = models.ForeignKey(
        TopUp,
        verbose_name="余额充值",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="refunds",
    )
    attempt = models.ForeignKey(
        PaymentAttempt,
        verbose_name="支付单",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="refunds",
    )
    out_refund_no = models.CharField("退款单号", max_length=64, unique=True)
    # A re-submission (new out_refund_no) of a refund WeChat reported as CHANGE.
    retry_of = models.OneToOneField(
        "self",
        verbose_name="重新提交自",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="retried_by",
    )
    amount_fen = models.PositiveBigIntegerField("退款金额(分)")
    # Where the money goes back: WeChat Pay and stored value (the stored-value issue fills it).
    wechat_fen = models.PositiveBigIntegerField("退回微信(分)", default=0)
    balance_fen = models.PositiveBigIntegerField("退回余额(分)", default=0)
    status = models.CharField("状态", max_length=12, choices=Status.choices, default=Status.PENDING)
    wechat_refund_id = models.CharField("微信退款单号", max_length=32, blank=True)
    reason = models.CharField("退款原因", max_length=200, blank=True)
    # "admin:<username>", "system", "member:<id>"
    requested_by = models.CharField("申请人", max_length=80)
    is_automatic = models.BooleanField("自动退款", default=False)
    restock = models.BooleanField("退回库存", default=False)
    restocked_at = models.DateTimeField("回库时间", null=True, blank=True)
    last_error = models.CharField("最近错误", max_length=200, blank=True)
    created_at = models.DateTimeField("申请时间", default=timezone.now)
    submitted_at = models.DateTimeField("提交微信时间", null=True, blank=True)
    succeeded_at = models.DateTimeField("退款成功时间", null=True, blank=True)

    class Meta:
        verbose_name = "退款"
        verbose_name_plural = "退款"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(order__isnull=False, top_up__isnull=True)
                | Q(order__isnull=True, top_up__isnull=False),
                name="refund_order_xor_top_up",
            ),
        ]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(status__in=["pending", "processing"]),
                name="refund_in_flight",
            ),
            models.Index(fields=["created_at"], condition=Q(status="change"), name="refund_change"),
        ]

    def __str__(self) -> str:
        return self.out_refund_no


class RefundLine(models.Model):
    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(
        OrderLine, verbose_name="订单商品", on_delete=models.PROTECT, related_name="refund_lines"
    )
    quantity = models.PositiveIntegerField("数量")
    amount_fen = models.PositiveBigIntegerField("金额(分)")

    class Meta:
        verbose_name = "退款商品"
        verbose_name_plural = "退款商品"
        ordering = ["refund_id", "id"]

    def __str__(self) -> str:
        return f"{self.order_line_id} × {self.quantity}"


class LedgerEntry(models.Model):
    """Append-only: one row per movement of money, never updated or deleted."""

    class Kind(models.TextChoices):
        WECHAT_PAYMENT = "wechat_payment", "微信支付收款"
        WECHAT_REFUND = "wechat_refund", "微信退款"
        # Stored value (channel=balance; direction seen from the member's balance: in adds to
        # it, out takes from it, so Member.balance_fen = Σ in − Σ out − what unpaid orders hold).
        BALANCE_SPEND = "balance_spend", "余额支付"
        BALANCE_REFUND = "balance_refund", "退回余额"
        BALANCE_TOP_UP = "balance_top_up", "余额充值"
        BALANCE_BONUS = "balance_bonus", "充值赠送"
        # A refunded top-up takes its amount and its bonus back out of the balance.
        BALANCE_TOP_UP_REFUND = "balance_top_up_refund", "充值退款"
        BALANCE_BONUS_CLAWBACK = "balance_bonus_clawback", "赠送扣回"

    class Direction(models.TextChoices):
        IN = "in", "收入"
        OUT = "out", "支出"

    class Channel(models.TextChoices):
        WECHAT = "wechat", "微信支付"
        BALANCE = "balance", "储值余额"

    kind = models.CharField("类型", max_length=30, choices=Kind.choices)
    direction = models.CharField("方向", max_length=3, choices=Direction.choices)
    channel = models.CharField("渠道", max_length=10, choices=Channel.choices)
    amount_fen = models.PositiveBigIntegerField("金额(分)")
    external_key = models.CharField("外部单号", max_length=100)  # unique: see Meta
    order = models.ForeignKey(
        Order,
        verbose_name="订单",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_entries",
    )
    attempt = models.ForeignKey(
        PaymentAttempt,
        verbose_name="支付单",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_entries",
    )
    refund = models.ForeignKey(
        Refund,
        verbose_name="退款",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_entries",
    )
    member = models.ForeignKey(
        Member,
        verbose_name="会员",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_entries",
    )
    note = models.CharField("说明", max_length=200, blank=True)
    # When the money moved by the other side's clock (WeChat's time_end / success_time): the
    # day reconciliation compares with WeChat's bill.
    occurred_at = models.DateTimeField("发生时间", db_index=True)
    created_at = models.DateTimeField("记账时间", default=timezone.now)

    class Meta:
        verbose_name = "资金流水"
        verbose_name_plural = "资金流水"
        ordering = ["-occurred_at", "-id"]
        constraints = [
            # A constraint, not unique=True: no LIKE index beside it on every money movement.
            models.UniqueConstraint(fields=["external_key"], name="ledger_unique_external_key"),
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="ledger_amount_positive"),
        ]

    def __str__(self) -> str:
        return self.external_key


class ReconciliationRun(models.Model):
    class Status(models.TextChoices):
        MATCHED = "matched", "一致"
        DIFFERENCES = "differences", "有差异"

    bill_date = models.DateField("账单日期", db_index=True)
    status = models.CharField("结果", max_length=12, choices=Status.choices)
    has_bill = models.BooleanField("微信有账单", default=True)
    ours_payment_count = models.PositiveIntegerField("本地收款笔数", default=0)
    ours_payment_fen = models.PositiveBigIntegerField("本地收款(分)", default=0)
    ours_refund_count = models.PositiveIntegerField("本地退款笔数", default=0)
    ours_refund_fen = models.PositiveBigIntegerField("本地退款(分)", default=0)
    theirs_payment_count = models.PositiveIntegerField("微信收款笔数", default=0)
    theirs_payment_fen = models.PositiveBigIntegerField("微信收款(分)", default=0)
    theirs_refund_count = models.PositiveIntegerField("微信退款笔数", default=0)
    theirs_refund_fen = models.PositiveBigIntegerField("微信退款(分)", default=0)
    differences_count = models.PositiveIntegerField("差异数", default=0)
    created_at = models.DateTimeField("对账时间", default=timezone.now)

    class Meta:
        verbose_name = "对账"
        verbose_name_plural = "对账"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.bill_date} {self.get_status_display()}"


class ReconciliationDifference(models.Model):
    class Kind(models.TextChoices):
        MISSING_HERE = "missing_here", "本地缺失"
        MISSING_THERE = "missing_there", "微信缺失"
        AMOUNT_DIFFERS = "amount_differs", "金额不符"
        STATUS_DIFFERS = "status_differs", "状态不符"

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="differences")
    kind = models.CharField("差异类型", max_length=20, choices=Kind.choices)
    out_trade_no = models.CharField("商户订单号", max_length=32, blank=True)
    out_refund_no = models.CharField("退款单号", max_length=64, blank=True)
    transaction_id = models.CharField("微信支付单号", max_length=32, blank=True)
    ours_fen = models.BigIntegerField("本地金额(分)", null=True, blank=True)
    theirs_fen = models.BigIntegerField("微信金额(分)", null=True, blank=True)
    detail = models.CharField("说明", max_length=300, blank=True)

    class Meta:
        verbose_name = "对账差异"
        verbose_name_plural = "对账差异"
        ordering = ["run_id", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.out_refund_no or self.out_trade_no}"
