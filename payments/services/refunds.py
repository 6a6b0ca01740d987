"""Refunds: requested against the order's stored allocation, sent to WeChat after commit,
settled once by WeChat's notification or by refundquery.

An order's lines say what was paid (`paid_fen`) and what is refunded (`refunded_quantity`,
`refunded_fen`, changed only when WeChat says SUCCESS). What is being refunded (pending or
processing refunds) also counts against what can still be refunded, and every request locks the
order and its lines first, so two refunds racing can never take more than was paid.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from catalog.models import StockLog
from catalog.stock import StockLine, stock_release
from mall.errors import (
    RefundExceedsPaid,
    RefundNotAllowed,
    RefundNotRetryable,
    RefundNumberReused,
    WechatUnavailable,
)
from mall.money import mul_div_round_half_up
from marketing.services.campaigns import campaign_usages_mark_refunded
from marketing.services.coupons import (
    coupon_return_for_refunded_order,
    coupons_spend_grants_revoke,
)
from marketing.services.flash_sale import KIND as FLASH_KIND
from marketing.services.flash_sale import flash_refunded_for_order
from marketing.services.group_buy import GROUP_BUY_KINDS, group_seat_refunded_for_order
from marketing.services.points_mall import PROMOTION_KIND as POINTS_MALL_KIND
from marketing.services.points_mall import points_mall_order_refunded
from members.levels import member_order_refund_settled_locked
from members.points import points_refund
from members.stored_value import stored_value_credit
from orders.models import Order, OrderLine, OrderStatus
from orders.pricing import breakdown_benefits
from orders.selectors import (
    order_lines_lock_for_refund,
    order_lines_unrefunded_exist,
    order_lock_for_refund,
)
from orders.services import ALLOWED_TRANSITIONS, order_line_refunded_add, order_transition

from .. import wechat
from ..models import LedgerEntry, PaymentAttempt, Refund, RefundLine, TopUp
from .ledger import ledger_record
from .paid_effects import order_paid_effects_apply
from .queue import refund_submit_queue
from .top_up_refunds import top_up_refund_closed_locked, top_up_refund_succeeded_locked

logger = logging.getLogger(__name__)

REFUNDABLE_ORDER_STATUSES = (
    OrderStatus.PAID,
    OrderStatus.SHIPPED,
    OrderStatus.RECEIVED,
    OrderStatus.COMPLETED,
)
# refund (secapi) err_codes after which WeChat will not refund: a person has to look. Any other
# answer (SYSTEMERROR, NOTENOUGH = the merchant account is short for now, …) is retried.
REFUND_REFUSALS = frozenset(
    {
        "TRADE_OVERDUE",
        "USER_ACCOUNT_ABNORMAL",
        "INVALID_TRANSACTIONID",
        "ORDERNOTEXIST",
        "PARAM_ERROR",
        "ERROR",
    }
)
WECHAT_REFUND_STATES = {
    "SUCCESS": Refund.Status.SUCCESS,
    "CHANGE": Refund.Status.CHANGE,
    "REFUNDCLOSE": Refund.Status.CLOSED,
}


@dataclass(frozen=True)
class RefundLineInput:
    order_line_id: int
    quantity: int


class RefundOutcome(StrEnum):
    SETTLED = "settled"  # money recorded as refunded now
    ALREADY_SETTLED = "already_settled"  # a replay: nothing written
    PROCESSING = "processing"  # WeChat is still refunding
    CHANGE = "change"  # WeChat CHANGE: marked for a person to handle
    CLOSED = "closed"  # WeChat REFUNDCLOSE: the amount is refundable again
    REJECTED = "rejected"  # the amount does not match ours: nothing written
    UNKNOWN = "unknown"  # not one of our refunds: nothing written

    @property
    def is_acknowledged(self) -> bool:
        """WeChat may stop telling us: what it said is recorded."""
        return self not in (self.REJECTED, self.UNKNOWN, self.PROCESSING)


def refund_notify_url() -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("wechat-refund-notify")


# --- request ---
@transaction.atomic(durable=True)
def refund_request(
    *,
    order_id: int,
    lines: Sequence[RefundLineInput] | None,
    reason: str,
    requested_by: str,
    out_refund_no: str | None = None,
    restock: bool,
) -> Refund:
    """Refund order lines by quantity (`lines=None`: everything still refundable), amounts from
    the stored allocation: the last remaining units of a line take what is left of its paid_fen,
    other units their share rounded half up. WeChat is asked after commit (refund_submit_task).
    A repeated out_refund_no returns the first refund. `restock` puts the refunded quantities
    back in stock once the refund succeeds (the goods came back, or were never shipped).

    Raises: Order.DoesNotExist, RefundNotAllowed (order status, unknown line),
    RefundExceedsPaid, RefundNumberReused. The stored-value part (see _refund_split) goes
    back to the balance when the refund succeeds: at once when WeChat has no part in it.
    """
    order = order_lock_for_refund(order_id=order_id)
    if out_refund_no and (existing := Refund.objects.filter(out_refund_no=out_refund_no).first()):
        if existing.order_id != order_id:
            raise RefundNumberReused(out_refund_no=out_refund_no)
        return existing
    if order.status not in REFUNDABLE_ORDER_STATUSES:
        raise RefundNotAllowed(status=order.status)
    order_lines = order_lines_lock_for_refund(order_id=order_id)
    plan = _refund_plan(order_lines=order_lines, lines=lines)
    amount_fen = sum(amount for _, _, amount in plan)
    attempt = None
    if order.wechat_pay_fen > 0:
        attempt = PaymentAttempt.objects.filter(
            order_id=order_id, out_trade_no=order.out_trade_no, status=PaymentAttempt.Status.PAID
        ).first()
        if attempt is None:
            raise RefundNotAllowed("找不到该订单的微信支付记录", out_trade_no=order.out_trade_no)
    wechat_fen, balance_fen = _refund_split(order=order, attempt=attempt, amount_fen=amount_fen)
    refund = Refund.objects.create(
        order=order,
        attempt=attempt if wechat_fen else None,
        out_refund_no=out_refund_no or _refund_no_new(order),
        amount_fen=amount_fen,
        wechat_fen=wechat_fen,
        balance_fen=balance_fen,
        reason=reason[:200],
        requested_by=requested_by[:80],
        restock=restock,
    )
    RefundLine.objects.bulk_create(
        RefundLine(refund=refund, order_line=line, quantity=qty, amount_fen=amount)
        for line, qty, amount in plan
    )
    if wechat_fen == 0:  # free lines or all back to the balance: nothing to send to WeChat
        _refund_succeeded_locked(refund=refund, order=order, succeeded_at=timezone.now())
    else:
        refund_id = refund.pk
        refund_submit_queue(refund_id)
    return refund


def _refund_plan(
    *, order_lines: list[OrderLine], lines: Sequence[RefundLineInput] | None
) -> list[tuple[OrderLine, int, int]]:
    """(line, quantity, amount_fen) for each line refunded. Caller holds the lines' locks."""
    in_flight = {
        row["order_line_id"]: (row["qty"], row["fen"])
        for row in RefundLine.objects.filter(
            order_line__in=order_lines, refund__status__in=Refund.IN_FLIGHT_STATUSES
        )
        .values("order_line_id")
        .annotate(qty=Sum("quantity"), fen=Sum("amount_fen"))
    }
    wanted: dict[int, int] = {}
    for item in lines or ():
        if item.quantity <= 0:
            raise RefundExceedsPaid("退款数量必须大于 0", order_line_id=item.order_line_id)
        wanted[item.order_line_id] = wanted.get(item.order_line_id, 0) + item.quantity
    unknown = set(wanted) - {line.pk for line in order_lines}
    if unknown:
        raise RefundNotAllowed("订单中没有这些商品", order_line_ids=sorted(unknown))
    plan = []
    for line in order_lines:
        flight_qty, flight_fen = in_flight.get(line.pk, (0, 0))
        units_left = line.quantity - line.refunded_quantity - flight_qty
        fen_left = line.paid_fen - line.refunded_fen - flight_fen
        qty = units_left if lines is None else wanted.get(line.pk, 0)
        if qty <= 0:
            continue
        if qty > units_left:
            raise RefundExceedsPaid(
                order_line_id=line.pk, requested=qty, refundable=max(units_left, 0)
            )
        if qty == units_left:
            amount = fen_left  # the last units take the remainder: the parts add up to paid_fen
        else:
            amount = min(mul_div_round_half_up(line.paid_fen, qty, line.quantity), fen_left)
        plan.append((line, qty, amount))
    if not plan:
        raise RefundExceedsPaid("没有可退的商品")
    return plan


def _refund_split(
    *, order: Order, attempt: PaymentAttempt | None, amount_fen: int
) -> tuple[int, int]:
    """How a refund divides into (WeChat Pay, stored value): money goes back where it came
    from. Rule: WeChat first, up to what its payment still holds (paid minus refunds that
    reserve it), then the balance, up to what the order took from it minus its reserving
    refunds. The caller holds the order's lock, so the reservations are exact.

    Raises: RefundExceedsPaid.
    """
    reserving = Refund.objects.filter(order=order, status__in=Refund.RESERVING_STATUSES)
    wechat_left = 0
    if attempt is not None:
        reserved = reserving.filter(attempt=attempt).aggregate(s=Sum("wechat_fen"))["s"] or 0
        wechat_left = max(attempt.amount_fen - reserved, 0)
    balance_left = max(order.balance_fen - (reserving.aggregate(s=Sum("balance_fen"))["s"] or 0), 0)
    wechat_fen = min(amount_fen, wechat_left)
    balance_fen = amount_fen - wechat_fen
    if balance_fen > balance_left:
        raise RefundExceedsPaid(refundable_fen=wechat_left + balance_left)
    return wechat_fen, balance_fen


def _refund_no_new(order: Order) -> str:
    """ "R" + order no + a 3-digit sequence. The caller holds the order's lock."""
    seq = Refund.objects.filter(order=order, is_automatic=False).count() + 1
    return f"R{order.no}{seq:03d}"


def refund_for_attempt_locked(*, attempt: PaymentAttempt, reason: str) -> Refund:
    """Refund the whole of an attempt that paid an order no longer payable (cancelled,
    closed, or paid by another attempt), or a top-up already credited by another attempt. The
    caller holds the attempt's lock inside its transaction; a second call returns the first
    refund ("R" + out_trade_no)."""
    out_refund_no = f"R{attempt.out_trade_no}"
    existing = Refund.objects.filter(out_refund_no=out_refund_no).first()
    if existing is not None:
        return existing
    refund = Refund.objects.create(
        order_id=attempt.order_id,
        top_up_id=attempt.top_up_id,
        attempt=attempt,
        out_refund_no=out_refund_no,
        amount_fen=attempt.amount_fen,
        wechat_fen=attempt.amount_fen,
        reason=reason[:200],
        requested_by="system",
        is_automatic=True,
    )
    refund_id = refund.pk
    refund_submit_queue(refund_id)
    return refund


# --- WeChat ---
def refund_submit(*, refund_id: int) -> str:
    """Ask WeChat to refund a pending refund (no lock held during the call; WeChat treats a
    repeated out_refund_no as the same refund). Returns the refund's status after.

    Raises: WechatUnavailable (retry later; err_codes outside REFUND_REFUSALS included).
    """
    refund = Refund.objects.select_related("attempt").get(pk=refund_id)
    if refund.status != Refund.Status.PENDING or refund.attempt is None or refund.wechat_fen == 0:
        return refund.status
    attempt = refund.attempt
    try:
        result = wechat.refund_apply(
            out_trade_no=attempt.out_trade_no,
            out_refund_no=refund.out_refund_no,
            total_fee=attempt.amount_fen,
            refund_fee=refund.wechat_fen,
            notify_url=refund_notify_url(),
            reason=refund.reason,
        )
    except wechat.WechatPayError as exc:
        error = f"{exc.err_code} {exc.errmsg}"[:200]
        if exc.err_code not in REFUND_REFUSALS:
            Refund.objects.filter(pk=refund_id).update(last_error=error)
            raise
        logger.error("WeChat refused refund %s: %s", refund.out_refund_no, error)
        _refund_close_refused(refund=refund, error=error)
        return Refund.Status.CLOSED
    accepted = Refund.objects.filter(pk=refund_id, status=Refund.Status.PENDING).update(
        status=Refund.Status.PROCESSING,
        wechat_refund_id=str(result.get("refund_id") or "")[:32],
        submitted_at=timezone.now(),
        last_error="",
    )
    if accepted and refund.retry_of_id:  # WeChat took the re-submission: it replaces the CHANGE
        Refund.objects.filter(pk=refund.retry_of_id, status=Refund.Status.CHANGE).update(
            status=Refund.Status.CLOSED, last_error=f"已重新提交为 {refund.out_refund_no}"
        )
    return Refund.objects.values_list("status", flat=True).get(pk=refund_id)


@transaction.atomic
def _refund_close_refused(*, refund: Refund, error: str) -> None:
    if refund.top_up_id is not None:  # the top-up's lock first, as settlement takes it
        TopUp.objects.select_for_update().get(pk=refund.top_up_id)
    closed = Refund.objects.filter(pk=refund.pk, status=Refund.Status.PENDING).update(
        status=Refund.Status.CLOSED, last_error=error
    )
    if closed:
        _refund_closed_locked(refund=refund)


def _refund_closed_locked(*, refund: Refund) -> None:
    """A refund ended without moving money: a top-up's balance debit is given back."""
    if refund.top_up_id is not None:
        top_up_refund_closed_locked(refund=refund)


def refund_settle(
    *,
    out_refund_no: str,
    refund_fee: int,
    refund_status: str,
    source: str,
    wechat_refund_id: str = "",
    succeeded_at: datetime | None = None,
) -> RefundOutcome:
    """Record what WeChat says about a refund (notification or refundquery): SUCCESS writes one
    ledger row "wxrefund:<out_refund_no>", the lines' refunded amounts, the restock (once) and,
    when nothing is left, the order's closing; CHANGE marks it failed, REFUNDCLOSE closed.
    Safe to call any number of times.
    """
    if (
        refund_status == "SUCCESS"
        and Refund.objects.filter(
            out_refund_no=out_refund_no, status=Refund.Status.SUCCESS, wechat_fen=refund_fee
        ).exists()
    ):
        return RefundOutcome.ALREADY_SETTLED  # the usual replay: one read, no lock
    owner = (
        Refund.objects.filter(out_refund_no=out_refund_no)
        .values_list("order_id", "top_up_id")
        .first()
    )
    if owner is None:
        logger.error("WeChat refund %s (%s) is not ours", out_refund_no, source)
        return RefundOutcome.UNKNOWN
    return _refund_settle_atomic(
        order_id=owner[0],
        top_up_id=owner[1],
        out_refund_no=out_refund_no,
        refund_fee=refund_fee,
        refund_status=refund_status,
        source=source,
        wechat_refund_id=wechat_refund_id,
        succeeded_at=succeeded_at or timezone.now(),
    )


@transaction.atomic(durable=True)
def _refund_settle_atomic(
    *,
    order_id: int | None,
    top_up_id: int | None,
    out_refund_no: str,
    refund_fee: int,
    refund_status: str,
    source: str,
    wechat_refund_id: str,
    succeeded_at: datetime,
) -> RefundOutcome:
    order = _refund_owner_lock(order_id=order_id, top_up_id=top_up_id)
    refund = Refund.objects.select_for_update(of=("self",)).get(out_refund_no=out_refund_no)
    if refund_fee != refund.wechat_fen:
        logger.error(
            "WeChat refund %s (%s): refund_fee %s != %s, rejected",
            out_refund_no,
            source,
            refund_fee,
            refund.wechat_fen,
        )
        return RefundOutcome.REJECTED
    final = WECHAT_REFUND_STATES.get(refund_status)
    if final is None:
        return RefundOutcome.PROCESSING
    if final == Refund.Status.SUCCESS:
        if refund.status == Refund.Status.SUCCESS:
            return RefundOutcome.ALREADY_SETTLED
        if refund.status not in Refund.IN_FLIGHT_STATUSES:
            logger.error(
                "refund %s was %s; WeChat says SUCCESS: recording it", out_refund_no, refund.status
            )
        if order is None:
            top_up_refund_succeeded_locked(
                refund=refund, succeeded_at=succeeded_at, wechat_refund_id=wechat_refund_id
            )
        else:
            _refund_succeeded_locked(
                refund=refund,
                order=order,
                succeeded_at=succeeded_at,
                wechat_refund_id=wechat_refund_id,
            )
        return RefundOutcome.SETTLED
    changed = Refund.objects.filter(pk=refund.pk, status__in=Refund.IN_FLIGHT_STATUSES).update(
        status=final, last_error=f"微信退款状态 {refund_status}"
    )
    if changed:
        log = logger.error if final == Refund.Status.CHANGE else logger.warning
        log("WeChat refund %s ended %s (%s)", out_refund_no, refund_status, source)
        if final == Refund.Status.CLOSED:
            _refund_closed_locked(refund=refund)
    return RefundOutcome.CHANGE if final == Refund.Status.CHANGE else RefundOutcome.CLOSED


def _refund_owner_lock(*, order_id: int | None, top_up_id: int | None) -> Order | None:
    """Lock the order (returned) or the top-up a refund belongs to: it serialises the refunds
    of one order ("all refunded?" is exact) or of one top-up, always before the refund's lock."""
    if order_id is not None:
        return order_lock_for_refund(order_id=order_id)
    TopUp.objects.select_for_update().get(pk=top_up_id)
    return None


def _refund_succeeded_locked(
    *, refund: Refund, order: Order, succeeded_at: datetime, wechat_refund_id: str = ""
) -> None:
    """The money is back with the shopper. The caller holds the order's and the refund's locks."""
    if refund.wechat_fen:
        ledger_record(
            kind=LedgerEntry.Kind.WECHAT_REFUND,
            direction=LedgerEntry.Direction.OUT,
            channel=LedgerEntry.Channel.WECHAT,
            amount_fen=refund.wechat_fen,
            external_key=f"wxrefund:{refund.out_refund_no}",
            occurred_at=succeeded_at,
            order_id=order.pk,
            attempt_id=refund.attempt_id,
            refund_id=refund.pk,
            member_id=order.member_id,
            note=refund.reason,
        )
    if refund.balance_fen and ledger_record(
        kind=LedgerEntry.Kind.BALANCE_REFUND,
        direction=LedgerEntry.Direction.IN,
        channel=LedgerEntry.Channel.BALANCE,
        amount_fen=refund.balance_fen,
        external_key=f"balance:refund:{refund.out_refund_no}",
        occurred_at=succeeded_at,
        order_id=order.pk,
        refund_id=refund.pk,
        member_id=order.member_id,
        note=refund.reason,
    ):  # the ledger's unique key makes the credit happen once
        stored_value_credit(
            member_id=order.member_id, amount_fen=refund.balance_fen, reference=refund.out_refund_no
        )
    Refund.objects.filter(pk=refund.pk).update(
        status=Refund.Status.SUCCESS,
        succeeded_at=succeeded_at,
        wechat_refund_id=wechat_refund_id[:32] or refund.wechat_refund_id,
        last_error="",
    )
    lines = list(RefundLine.objects.filter(refund=refund).select_related("order_line"))
    for item in lines:
        order_line_refunded_add(
            order_line_id=item.order_line_id, quantity=item.quantity, amount_fen=item.amount_fen
        )
    if refund.restock and lines:
        first = Refund.objects.filter(pk=refund.pk, restocked_at__isnull=True).update(
            restocked_at=timezone.now()
        )
        if first:
            stock_release(
                lines=[StockLine(sku_id=i.order_line.sku_id, qty=i.quantity) for i in lines],
                reference=refund.out_refund_no,
                reason=StockLog.Reason.REFUND_RESTOCK,
            )
    if not lines:
        return  # an automatic refund of a surplus attempt: the order's own payment is untouched
    # What the refund takes back must have been given: the payment's effects, if its follow-up
    # has not run yet.
    order_paid_effects_apply(order_id=order.pk)
    member_order_refund_settled_locked(  # growth and the order's earned points, in proportion
        member_id=order.member_id,
        order_no=order.no,
        refund_fen=refund.amount_fen,
        refund_no=refund.out_refund_no,
    )
    if order_lines_unrefunded_exist(order_id=order.pk):
        return
    if OrderStatus.CLOSED in ALLOWED_TRANSITIONS.get(order.status, frozenset()):
        order_transition(
            order_id=order.pk,
            from_status=order.status,
            to_status=OrderStatus.CLOSED,
            actor="system",
            note=f"全额退款 {refund.out_refund_no}",
        )
    _order_refunded_fully_locked(order=order)


def _order_refunded_fully_locked(*, order: Order) -> None:
    """Everything of the order is refunded: give back what it took besides money (its points,
    coupon, campaign usage, and what its promotion held) and revoke the unused coupons its payment
    granted, in this transaction, so each happens exactly once. A hook runs only when the order
    has something for it (as on payment)."""
    if order.points_used:  # the points it spent (once: unique per reference in the ledger)
        points_refund(member_id=order.member_id, reference=f"order:{order.no}")
    coupons_spend_grants_revoke(order_id=order.pk, member_id=order.member_id)
    uses_coupon, uses_campaign = breakdown_benefits(order.breakdown)
    if uses_coupon:
        coupon_return_for_refunded_order(order_id=order.pk)
    if uses_campaign:
        campaign_usages_mark_refunded(order_id=order.pk)
    if order.promotion_kind == POINTS_MALL_KIND:
        points_mall_order_refunded(order_id=order.pk)
    elif order.promotion_kind in GROUP_BUY_KINDS:
        group_seat_refunded_for_order(order_id=order.pk)
    elif order.promotion_kind == FLASH_KIND:
        flash_refunded_for_order(order_id=order.pk)


def refund_query_sync(*, refund_id: int, now: datetime | None = None) -> str:
    """refundquery an in-flight refund and settle what WeChat says; a pending one WeChat does
    not know is submitted. Returns WeChat's refund status (or ours when nothing was asked).

    Raises: WechatUnavailable.
    """
    now = now or timezone.now()
    refund = Refund.objects.get(pk=refund_id)
    if refund.status not in Refund.IN_FLIGHT_STATUSES:
        return refund.status
    try:
        result = wechat.refund_query(refund.out_refund_no)
    except wechat.WechatPayError as exc:
        if exc.err_code != "REFUNDNOTEXIST":
            raise
        if refund.status == Refund.Status.PENDING:
            return refund_submit(refund_id=refund_id)
        logger.error("refund %s is processing here but unknown to WeChat", refund.out_refund_no)
        return refund.status
    for n in range(int(result.get("refund_count") or 0)):
        if result.get(f"out_refund_no_{n}") != refund.out_refund_no:
            continue
        status = str(result.get(f"refund_status_{n}", ""))
        success_time = result.get(f"refund_success_time_{n}")
        refund_settle(
            out_refund_no=refund.out_refund_no,
            refund_fee=int(result[f"refund_fee_{n}"]),
            refund_status=status,
            source="query",
            wechat_refund_id=str(result.get(f"refund_id_{n}") or ""),
            succeeded_at=wechat.time_parse(str(success_time), "%Y-%m-%d %H:%M:%S")
            if success_time
            else now,
        )
        return status
    return refund.status


def refunds_sync(
    *,
    now: datetime | None = None,
    older_than_seconds: int | None = None,
    batch_size: int | None = None,
    after_id: int = 0,
) -> dict[str, int]:
    """The safety net for refunds (beat): submit pending refunds whose task was lost, query
    processing ones whose notification was lost. One bounded batch from `after_id`."""
    now = now or timezone.now()
    older = settings.REFUND_SYNC_AFTER_SECONDS if older_than_seconds is None else older_than_seconds
    limit = batch_size or settings.PAYMENT_SYNC_BATCH_SIZE
    rows = list(
        Refund.objects.filter(
            status__in=Refund.IN_FLIGHT_STATUSES,
            created_at__lte=now - timedelta(seconds=older),
            pk__gt=after_id,
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    counts = {"checked": 0, "succeeded": 0, "failed": 0}
    for refund_id in rows:
        counts["checked"] += 1
        try:
            counts["succeeded"] += refund_query_sync(refund_id=refund_id, now=now) == "SUCCESS"
        except WechatUnavailable as exc:
            counts["failed"] += 1
            logger.warning("refund sync of %s: %r", refund_id, exc)
    return counts | {"next_after_id": rows[-1] if len(rows) == limit else 0}


# --- CHANGE (退款异常) ---
def refund_change_retry(*, refund_id: int, actor: str) -> Refund:
    """Re-submit a refund WeChat reported as CHANGE (the money did not reach the shopper's
    card): first ask WeChat again (a refund handled on the merchant platform may be SUCCESS by
    now), else create one re-submission with a new out_refund_no ("<old>-R", same amounts and
    lines) and send it at once. When WeChat takes it, the CHANGE refund is closed; when WeChat
    refuses (it usually still counts the CHANGE amount as refunded: NOTENOUGH), the
    re-submission is closed and the CHANGE refund stays for a person to settle on the merchant
    platform. Returns the refund that now stands for the money (a second call: the same one).

    Raises: Refund.DoesNotExist, RefundNotRetryable (not in CHANGE), WechatUnavailable (WeChat
    did not answer; the re-submission stays pending and the sync beat sends it).
    """
    refund = Refund.objects.get(pk=refund_id)
    if (
        refund.status != Refund.Status.CHANGE
        and not Refund.objects.filter(retry_of=refund).exists()
    ):
        raise RefundNotRetryable(status=refund.status, out_refund_no=refund.out_refund_no)
    if refund.status == Refund.Status.CHANGE:
        _refund_change_query(refund)
        refund.refresh_from_db()
        if refund.status == Refund.Status.SUCCESS:
            return refund  # handled at WeChat meanwhile: settled by the query
    retry = _refund_retry_create(refund_id=refund_id, actor=actor)
    if retry.status != Refund.Status.PENDING:
        return retry
    try:
        refund_submit(refund_id=retry.pk)
    except wechat.WechatPayError as exc:  # NOTENOUGH & co.: WeChat does not allow it
        Refund.objects.filter(pk=retry.pk, status=Refund.Status.PENDING).update(
            status=Refund.Status.CLOSED, last_error=f"{exc.err_code} {exc.errmsg}"[:200]
        )
    return Refund.objects.get(pk=retry.pk)


def _refund_change_query(refund: Refund) -> None:
    try:
        result = wechat.refund_query(refund.out_refund_no)
    except wechat.WechatPayError:
        return
    for n in range(int(result.get("refund_count") or 0)):
        if result.get(f"out_refund_no_{n}") == refund.out_refund_no:
            if result.get(f"refund_status_{n}") == "SUCCESS":
                success_time = result.get(f"refund_success_time_{n}")
                refund_settle(
                    out_refund_no=refund.out_refund_no,
                    refund_fee=int(result[f"refund_fee_{n}"]),
                    refund_status="SUCCESS",
                    source="query",
                    wechat_refund_id=str(result.get(f"refund_id_{n}") or ""),
                    succeeded_at=wechat.time_parse(str(success_time), "%Y-%m-%d %H:%M:%S")
                    if success_time
                    else None,
                )
            return


@transaction.atomic(durable=True)
def _refund_retry_create(*, refund_id: int, actor: str) -> Refund:
    order_id, top_up_id = Refund.objects.values_list("order_id", "top_up_id").get(pk=refund_id)
    _refund_owner_lock(order_id=order_id, top_up_id=top_up_id)  # settlement's lock order
    refund = Refund.objects.select_for_update().get(pk=refund_id)
    if (retry := Refund.objects.filter(retry_of=refund).first()) is not None:
        return retry  # a second click
    if refund.status != Refund.Status.CHANGE:
        raise RefundNotRetryable(status=refund.status, out_refund_no=refund.out_refund_no)
    retry = Refund.objects.create(
        order_id=refund.order_id,
        top_up_id=refund.top_up_id,
        attempt_id=refund.attempt_id,
        retry_of=refund,
        out_refund_no=f"{refund.out_refund_no}-R",
        amount_fen=refund.amount_fen,
        wechat_fen=refund.wechat_fen,
        balance_fen=refund.balance_fen,
        reason=f"{refund.reason}（重新提交 {refund.out_refund_no}）"[:200],
        requested_by=actor[:80],
        is_automatic=refund.is_automatic,
        restock=refund.restock,
    )
    RefundLine.objects.bulk_create(
        RefundLine(
            refund=retry,
            order_line_id=line.order_line_id,
            quantity=line.quantity,
            amount_fen=line.amount_fen,
        )
        for line in RefundLine.objects.filter(refund=refund).order_by("pk")
    )
    return retry


def refunds_change_count() -> int:
    """Refunds WeChat reported as CHANGE that nobody has settled yet (the admin dashboard)."""
    return Refund.objects.filter(status=Refund.Status.CHANGE).count()
