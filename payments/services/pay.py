"""Paying an order by WeChat Pay: prepay, settlement (notification, query, close) and expiry.

No WeChat call is made while a row lock is held: each use case locks, decides and commits, calls
WeChat, then re-locks (or updates conditionally) and re-reads before writing the answer
[saleor `complete_checkout_with_payment`]. WeChat is the judge of whether money moved; the ledger
records each transaction once (unique "wxpay:<transaction_id>"), and money that arrives for an
order that can no longer take it is refunded automatically, never dropped (saleor-docs #990).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from mall.errors import OrderAlreadyPaid, OrderNotPayable, WechatUnavailable
from mall.money import yuan
from marketing.services.campaigns import campaign_usages_mark_paid
from marketing.services.coupons import coupon_mark_used_for_order, coupons_grant_on_spend
from marketing.services.flash_sale import KIND as FLASH_KIND
from marketing.services.flash_sale import flash_mark_paid
from marketing.services.group_buy import GROUP_BUY_KINDS
from marketing.services.points_mall import PROMOTION_KIND as POINTS_MALL_KIND
from marketing.services.points_mall import points_mall_order_paid
from members.levels import member_order_paid_locked
from members.models import Member
from members.services import subscribe_message_queue
from orders.models import Order, OrderLine, OrderStatus
from orders.pricing import breakdown_benefits
from orders.services import order_close_if_unpaid, order_transition

from .. import wechat
from ..models import LedgerEntry, PaymentAttempt
from .group_buy import group_buy_order_paid_locked
from .ledger import ledger_record
from .refunds import refund_for_attempt_locked
from .settle import order_attempt_paid_statement
from .top_ups import top_up_paid_locked

logger = logging.getLogger(__name__)

S = OrderStatus
A = PaymentAttempt.Status
PREPAY_TTL = timedelta(hours=2)  # a prepay_id is valid for 2 hours
MIN_TIME_EXPIRE = timedelta(minutes=5, seconds=30)  # WeChat refuses < 5 min (+ clock skew)
PREPAY_REUSE_MARGIN = timedelta(minutes=1)  # a reused prepay leaves the shopper time to pay
CREATED_ATTEMPT_GRACE = timedelta(minutes=1)  # its unifiedorder may still be on the wire
ALREADY_PAID_STATUSES = (S.PAID, S.SHIPPED, S.RECEIVED, S.COMPLETED)
PAID_TRADE_STATES = ("SUCCESS", "REFUND")  # REFUND: paid, then (partly) refunded
CLOSED_TRADE_STATES = ("CLOSED", "REVOKED", "PAYERROR")


class SettleOutcome(StrEnum):
    SETTLED = "settled"  # recorded, the order is paid
    ALREADY_SETTLED = "already_settled"  # a replay: nothing written
    REFUNDING = "refunding"  # recorded; the order could no longer take it: refund started
    AMOUNT_MISMATCH = "amount_mismatch"  # rejected, nothing written
    UNKNOWN_TRADE = "unknown_trade"  # not one of our attempts, nothing written
    CONFLICT = "conflict"  # another transaction id for a paid attempt, nothing written

    @property
    def is_recorded(self) -> bool:
        """WeChat may stop telling us: the money is in the ledger (now or before)."""
        return self in (self.SETTLED, self.ALREADY_SETTLED, self.REFUNDING)


def payment_notify_url() -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("wechat-pay-notify")


# --- pay ---
@dataclass(frozen=True)
class _PayStep:
    is_paid: bool = False
    prepay_id: str = ""
    attempt: PaymentAttempt | None = None
    body: str = ""


def order_pay(*, member: Member, order_no: str, client_ip: str) -> dict[str, Any]:
    """Start or resume paying the member's order: `{"paid": False, "request_payment": {…}}` for
    wx.requestPayment, or `{"paid": True}` when nothing is left to pay by WeChat. The amount is
    the order's wechat_pay_fen; a valid prepay of the same amount is reused.

    Raises: Order.DoesNotExist (not this member's order), OrderAlreadyPaid, OrderNotPayable,
    WechatUnavailable.
    """
    now = timezone.now()
    step = _order_pay_prepare(member=member, order_no=order_no, now=now)
    if step.is_paid:
        return {"paid": True}
    if step.prepay_id:
        return {"paid": False, "request_payment": wechat.jsapi_params(step.prepay_id)}
    attempt = step.attempt
    if attempt is None or attempt.time_expire is None:
        raise RuntimeError("_order_pay_prepare gives a paid flag, a prepay or a new attempt")
    try:  # no lock is held here
        prepay_id = wechat.unified_order(
            out_trade_no=attempt.out_trade_no,
            total_fee=attempt.amount_fen,
            body=step.body,
            openid=member.openid,
            notify_url=payment_notify_url(),
            client_ip=client_ip,
            time_expire=attempt.time_expire,
        )
    except wechat.WechatPayError as exc:
        _attempt_error_record(attempt_id=attempt.pk, error=f"{exc.err_code} {exc.errmsg}")
        if exc.err_code == "ORDERPAID":  # paid already: settle from WeChat's record
            payment_attempt_query(attempt_id=attempt.pk)
            raise OrderAlreadyPaid() from exc
        raise
    return _order_pay_prepaid(attempt=attempt, prepay_id=prepay_id, now=now)


@transaction.atomic(durable=True)
def _order_pay_prepare(*, member: Member, order_no: str, now: datetime) -> _PayStep:
    order = Order.objects.select_for_update(of=("self",)).get(no=order_no, member=member)
    if order.status in ALREADY_PAID_STATUSES:
        raise OrderAlreadyPaid(status=order.status)
    if order.status != S.PENDING_PAYMENT:
        raise OrderNotPayable(status=order.status)
    if order.expires_at <= now:
        raise OrderNotPayable("订单已超时，请重新下单", status="expired")
    if order.wechat_pay_fen == 0:
        _order_paid_without_wechat_locked(order=order, now=now)
        return _PayStep(is_paid=True)
    reusable = (
        PaymentAttempt.objects.filter(
            order=order,
            status=A.PREPAID,
            amount_fen=order.wechat_pay_fen,
            prepay_expires_at__gt=now + PREPAY_REUSE_MARGIN,
        )
        .order_by("-seq")
        .values_list("prepay_id", flat=True)
        .first()
    )
    if reusable:
        return _PayStep(prepay_id=reusable)
    seq = (PaymentAttempt.objects.filter(order=order).aggregate(m=Max("seq"))["m"] or 0) + 1
    time_expire = max(min(order.expires_at, now + PREPAY_TTL), now + MIN_TIME_EXPIRE)
    attempt = PaymentAttempt.objects.create(
        order=order,
        seq=seq,
        out_trade_no=f"{order.no}P{seq}",
        amount_fen=order.wechat_pay_fen,
        time_expire=time_expire.replace(microsecond=0),
        created_at=now,
    )
    return _PayStep(attempt=attempt, body=_trade_body(order))


def _trade_body(order: Order) -> str:
    titles = list(
        OrderLine.objects.filter(order=order).order_by("id").values_list("title", flat=True)[:2]
    )
    first = titles[0][:40] if titles else "商品"
    return f"{first}等多件商品" if len(titles) > 1 else first


def _order_paid_without_wechat_locked(*, order: Order, now: datetime) -> None:
    """Nothing to pay by WeChat (stored value or discounts covered it). The caller holds the
    order's lock. The balance it took at creation is recorded as spent (a balance ledger row)."""
    from ..tasks import payment_paid_followups_task

    won = order_transition(
        order_id=order.pk,
        from_status=S.PENDING_PAYMENT,
        to_status=S.PAID,
        actor="system",
        note="无需微信支付",
        paid_at=now,
    )
    if won:
        order_id = order.pk
        _order_balance_spend_record(order=order, occurred_at=now)
        _order_paid_effects_locked(order_id=order_id)
        transaction.on_commit(lambda: payment_paid_followups_task.delay(order_id), robust=True)


def _order_pay_prepaid(*, attempt: PaymentAttempt, prepay_id: str, now: datetime) -> dict[str, Any]:
    """Store the prepay (a conditional update: expiry may have closed the attempt meanwhile) and
    re-read the order: one that stopped being payable gets its new WeChat trade closed."""
    stored = PaymentAttempt.objects.filter(pk=attempt.pk, status=A.CREATED).update(
        status=A.PREPAID,
        prepay_id=prepay_id,
        prepay_expires_at=min(now + PREPAY_TTL, attempt.time_expire or now + PREPAY_TTL),
    )
    order_status = Order.objects.filter(pk=attempt.order_id).values_list("status", flat=True).get()
    if stored and order_status == S.PENDING_PAYMENT:
        return {"paid": False, "request_payment": wechat.jsapi_params(prepay_id)}
    if not stored:
        _trade_close_quietly(attempt.out_trade_no)
    else:
        try:
            payment_attempt_close(attempt_id=attempt.pk)
        except WechatUnavailable as exc:  # the sync beat closes it later
            logger.warning("closing attempt %s of an unpayable order: %r", attempt.pk, exc)
    if order_status in ALREADY_PAID_STATUSES:
        raise OrderAlreadyPaid(status=order_status)
    raise OrderNotPayable(status=order_status)


def _attempt_error_record(*, attempt_id: int, error: str) -> None:
    PaymentAttempt.objects.filter(pk=attempt_id).update(last_error=error[:200])


# --- settlement: notification, query, close ---
def payment_settle(
    *, out_trade_no: str, transaction_id: str, total_fee: int, paid_at: datetime, source: str
) -> SettleOutcome:
    """Record a payment WeChat reports (notification, orderquery or closeorder's ORDERPAID):
    one ledger row "wxpay:<transaction_id>", the attempt paid, the order pending → paid; an order
    that can no longer be paid (cancelled, closed, paid by another attempt) keeps the money
    recorded and gets an automatic full refund of this attempt. Safe to call any number of times.
    Follow-ups (subscribe message, closing other open attempts) are queued on commit.
    """
    already = PaymentAttempt.objects.filter(
        out_trade_no=out_trade_no,
        transaction_id=transaction_id,
        amount_fen=total_fee,
        status=A.PAID,
    ).exists()
    if already:  # the usual replay: one read, no transaction, no lock
        return SettleOutcome.ALREADY_SETTLED
    return _payment_settle_atomic(
        out_trade_no=out_trade_no,
        transaction_id=transaction_id,
        total_fee=total_fee,
        paid_at=paid_at,
        source=source,
    )


@transaction.atomic(durable=True)
def _payment_settle_atomic(
    *, out_trade_no: str, transaction_id: str, total_fee: int, paid_at: datetime, source: str
) -> SettleOutcome:
    # The usual case, a new payment of an order's attempt: one statement (settle.py).
    outcome = _order_attempt_settle_locked(
        out_trade_no=out_trade_no,
        transaction_id=transaction_id,
        total_fee=total_fee,
        paid_at=paid_at,
        source=source,
    )
    if outcome is not None:
        return outcome
    attempt = (
        PaymentAttempt.objects.select_for_update(of=("self",))
        .only("out_trade_no", "amount_fen", "status", "transaction_id", "order", "top_up")
        .filter(out_trade_no=out_trade_no)
        .first()
    )
    if attempt is None:
        logger.error("wechat payment %s for unknown out_trade_no %s", transaction_id, out_trade_no)
        return SettleOutcome.UNKNOWN_TRADE
    if total_fee != attempt.amount_fen:
        logger.error(
            "wechat payment %s of %s: total_fee %s != %s, rejected",
            transaction_id,
            out_trade_no,
            total_fee,
            attempt.amount_fen,
        )
        return SettleOutcome.AMOUNT_MISMATCH
    if attempt.status == A.PAID:
        if attempt.transaction_id == transaction_id:
            return SettleOutcome.ALREADY_SETTLED
        logger.error(
            "attempt %s paid by %s, now reported paid by %s",
            out_trade_no,
            attempt.transaction_id,
            transaction_id,
        )
        return SettleOutcome.CONFLICT
    if attempt.top_up_id is not None:  # a stored-value top-up, not an order
        won = top_up_paid_locked(
            attempt=attempt,
            transaction_id=transaction_id,
            total_fee=total_fee,
            paid_at=paid_at,
            source=source,
        )
        return SettleOutcome.SETTLED if won else SettleOutcome.REFUNDING
    # An order's unpaid attempt of this amount: the statement matches it now that we hold the lock.
    outcome = _order_attempt_settle_locked(
        out_trade_no=out_trade_no,
        transaction_id=transaction_id,
        total_fee=total_fee,
        paid_at=paid_at,
        source=source,
    )
    if outcome is None:
        raise RuntimeError(f"attempt {out_trade_no} is an order's, unpaid, and did not settle")
    return outcome


def _order_attempt_settle_locked(
    *, out_trade_no: str, transaction_id: str, total_fee: int, paid_at: datetime, source: str
) -> SettleOutcome | None:
    """Settle an order's unpaid attempt of this amount (None: no such attempt, nothing
    written): attempt paid, ledger row, order pending → paid and its effects; an order that can
    no longer take the money gets this attempt refunded."""
    from ..tasks import payment_paid_followups_task

    paid = order_attempt_paid_statement(
        out_trade_no=out_trade_no,
        transaction_id=transaction_id,
        amount_fen=total_fee,
        paid_at=paid_at,
        source=source,
    )
    if paid is None:
        return None
    if not paid.is_recorded:  # only a hand-edited database gets here: the ledger stays the truth
        logger.error(
            "ledger has wxpay:%s but attempt %s was not paid", transaction_id, paid.attempt_id
        )
    order_id = paid.order_id
    if paid.order is not None:  # this payment moved the order pending → paid
        _order_balance_spend_record(order=paid.order, occurred_at=paid_at)
        _order_paid_effects_locked(order_id=order_id)
        # robust: the payment is committed; a failing follow-up (run eagerly in the embedded mode)
        # is logged, never turned into an error answer that makes WeChat send it again
        transaction.on_commit(lambda: payment_paid_followups_task.delay(order_id), robust=True)
        return SettleOutcome.SETTLED
    attempt = PaymentAttempt.objects.get(pk=paid.attempt_id)  # locked by the statement
    order_no, current = Order.objects.values_list("no", "status").get(pk=order_id)
    reason = (
        "订单已支付，重复付款自动退回"
        if current in ALREADY_PAID_STATUSES
        else "订单已关闭，付款自动退回"
    )
    logger.warning("payment %s for order %s (%s): refunding it", transaction_id, order_no, current)
    refund_for_attempt_locked(attempt=attempt, reason=reason)
    return SettleOutcome.REFUNDING


def _order_balance_spend_record(*, order: Order, occurred_at: datetime) -> None:
    """The stored value an order took at creation becomes spent when the order is paid: one
    balance_spend ledger row ("balance:spend:<order no>"), in the transaction that won
    pending → paid. (A cancelled order gives the balance back instead, see orders' lifecycle.)"""
    if order.balance_fen:
        ledger_record(
            kind=LedgerEntry.Kind.BALANCE_SPEND,
            direction=LedgerEntry.Direction.OUT,
            channel=LedgerEntry.Channel.BALANCE,
            amount_fen=order.balance_fen,
            external_key=f"balance:spend:{order.no}",
            occurred_at=occurred_at,
            order_id=order.pk,
            member_id=order.member_id,
            note="余额支付",
        )


def _order_paid_effects_locked(*, order_id: int) -> None:
    """What an order's payment changes in other apps, in the same transaction as pending →
    paid (only the transaction that won it gets here). The order is read once, and a hook runs
    only when the order can have something for it: its chosen promotion (`promotion_kind`: flash
    sale, group buy, points mall), the coupon and campaign discounts (or gift lines) of its
    breakdown; each hook stays idempotent by its own conditional updates and unique keys."""
    paid = _order_paid_row(order_id)
    kind = paid["promotion_kind"]
    if kind in GROUP_BUY_KINDS:
        group_buy_order_paid_locked(order_id=order_id)
    elif kind == FLASH_KIND:
        flash_mark_paid(order_id=order_id)
    elif kind == POINTS_MALL_KIND:
        points_mall_order_paid(order_id=order_id)
    member_order_paid_locked(  # points (pending), growth and level, the first_order task
        member_id=paid["member_id"], order_no=paid["no"], paid_fen=paid["payable_fen"]
    )
    uses_coupon, uses_campaign = breakdown_benefits(paid["breakdown"])
    if uses_coupon:
        coupon_mark_used_for_order(order_id=order_id)
    if uses_campaign:
        campaign_usages_mark_paid(order_id=order_id)
    coupons_grant_on_spend(
        order_id=order_id, member_id=paid["member_id"], paid_fen=paid["payable_fen"]
    )


_PAID_ROW_FIELDS = ("member_id", "no", "payable_fen", "promotion_kind", "breakdown")


@cache  # built once, after the app registry is ready
def _order_paid_row_sql() -> str:
    q = connection.ops.quote_name
    columns = ", ".join(q(Order._meta.get_field(name).column) for name in _PAID_ROW_FIELDS)
    table, pk = q(Order._meta.db_table), q(Order._meta.pk.column)
    return f"SELECT {columns} FROM {table} WHERE {pk} = %s"  # noqa: S608


def _order_paid_row(order_id: int) -> dict[str, Any]:
    """The order's fields the paid hooks need, read once (plain SQL: every payment reads it)."""
    with connection.cursor() as cursor:
        cursor.execute(_order_paid_row_sql(), [order_id])
        row = dict(zip(_PAID_ROW_FIELDS, cursor.fetchone(), strict=True))
    if isinstance(row["breakdown"], str | bytes):  # the drivers give JSON as text to Django
        field = Order._meta.get_field("breakdown")
        row["breakdown"] = field.from_db_value(row["breakdown"], None, connection)
    row["breakdown"] = row["breakdown"] or {}
    return row


def order_paid_followups(*, order_id: int) -> None:
    """After an order is paid (a task, safe to run twice): the "order_paid" subscribe message
    (deduplicated) and the closing of the order's other open WeChat trades."""
    order = Order.objects.select_related("member").get(pk=order_id)
    if order.paid_at is None:
        return  # not paid (a re-delivered task for a payment that was refunded instead)
    title = OrderLine.objects.filter(order=order).order_by("id").values_list("title", flat=True)
    with transaction.atomic():
        subscribe_message_queue(
            member=order.member,
            template_key="order_paid",
            data={
                "character_string1": {"value": order.no},
                "amount2": {"value": f"{yuan(order.payable_fen)}元"},
                "thing3": {"value": (title.first() or "商品")[:20]},
                "time4": {
                    "value": timezone.localtime(order.paid_at or timezone.now()).strftime(
                        "%Y-%m-%d %H:%M"
                    )
                },
            },
            page=f"pages/order/detail?no={order.no}",
            dedup_key=f"paid:{order.no}",
        )
    others = PaymentAttempt.objects.filter(
        order_id=order_id, status__in=PaymentAttempt.OPEN_STATUSES
    )
    for attempt_id in list(others.order_by("pk").values_list("pk", flat=True)):
        try:
            payment_attempt_close(attempt_id=attempt_id)
        except WechatUnavailable as exc:  # the sync beat closes it later
            logger.warning("closing attempt %s after payment: %r", attempt_id, exc)


def payment_attempt_query(*, attempt_id: int, now: datetime | None = None) -> str:
    """orderquery one attempt and act on the answer: a paid trade is settled, a closed one
    marked closed. Returns WeChat's trade_state ("SUCCESS", "NOTPAY", …) or "ORDERNOTEXIST".

    Raises: WechatUnavailable (including WechatPayError for other refusals).
    """
    now = now or timezone.now()
    attempt = PaymentAttempt.objects.get(pk=attempt_id)
    if attempt.status == A.PAID:
        return "SUCCESS"
    try:
        result = wechat.order_query(attempt.out_trade_no)
    except wechat.WechatPayError as exc:
        if exc.err_code != "ORDERNOTEXIST":
            raise
        if attempt.status == A.CREATED and attempt.created_at < now - CREATED_ATTEMPT_GRACE:
            _attempt_mark_closed(attempt_id=attempt_id, from_statuses=(A.CREATED,), now=now)
        return "ORDERNOTEXIST"
    state = str(result.get("trade_state", ""))
    if state in PAID_TRADE_STATES:
        payment_settle(
            out_trade_no=attempt.out_trade_no,
            transaction_id=str(result["transaction_id"]),
            total_fee=int(result["total_fee"]),
            paid_at=wechat.time_parse(str(result["time_end"])),
            source="query",
        )
    elif state in CLOSED_TRADE_STATES:
        _attempt_mark_closed(
            attempt_id=attempt_id, from_statuses=PaymentAttempt.OPEN_STATUSES, now=now
        )
    return state


def payment_attempt_close(*, attempt_id: int, now: datetime | None = None) -> str:
    """closeorder an open attempt (its order was paid by another attempt or expired); a trade
    WeChat says is paid (ORDERPAID) is settled instead. Returns the attempt's status after.

    Raises: WechatUnavailable.
    """
    now = now or timezone.now()
    attempt = PaymentAttempt.objects.get(pk=attempt_id)
    if attempt.status not in PaymentAttempt.OPEN_STATUSES:
        return attempt.status
    try:
        wechat.order_close(attempt.out_trade_no)
    except wechat.WechatPayError as exc:
        if exc.err_code == "ORDERPAID":
            payment_attempt_query(attempt_id=attempt_id, now=now)
            return PaymentAttempt.objects.values_list("status", flat=True).get(pk=attempt_id)
        if exc.err_code not in ("ORDERCLOSED", "ORDERNOTEXIST"):
            raise
    _attempt_mark_closed(attempt_id=attempt_id, from_statuses=PaymentAttempt.OPEN_STATUSES, now=now)
    return A.CLOSED


def _attempt_mark_closed(*, attempt_id: int, from_statuses: tuple[str, ...], now: datetime) -> None:
    PaymentAttempt.objects.filter(pk=attempt_id, status__in=from_statuses).update(
        status=A.CLOSED, closed_at=now
    )


def _trade_close_quietly(out_trade_no: str) -> None:
    """Close a trade we will not use; a failure only leaves it to expire at WeChat (and a
    payment on it would be refunded automatically)."""
    try:
        wechat.order_close(out_trade_no)
    except WechatUnavailable as exc:
        logger.warning("closing trade %s: %r", out_trade_no, exc)


def order_pay_sync(*, member: Member, order_no: str) -> Order:
    """The shopper is back from wx.requestPayment: orderquery the order's open attempts and
    settle a paid one (the notification may be late or lost); returns the order as it is now.

    Raises: Order.DoesNotExist (not this member's order).
    """
    order = Order.objects.get(no=order_no, member=member)
    open_ids = PaymentAttempt.objects.filter(
        order=order, status__in=PaymentAttempt.OPEN_STATUSES
    ).values_list("pk", flat=True)
    for attempt_id in list(open_ids.order_by("-seq")):
        try:
            if payment_attempt_query(attempt_id=attempt_id) in PAID_TRADE_STATES:
                break
        except WechatUnavailable as exc:  # answer what we know; the shopper may ask again
            logger.warning("pay/sync of %s: %r", order_no, exc)
            break
    order.refresh_from_db()
    return order


def payment_attempts_sync(
    *,
    now: datetime | None = None,
    older_than_seconds: int | None = None,
    batch_size: int | None = None,
    after_id: int = 0,
) -> dict[str, int]:
    """The safety net for lost notifications (beat, every 2 minutes): orderquery open attempts
    of orders still pending payment, created more than `older_than_seconds` ago; and close open
    attempts whose order is no longer pending. One bounded batch from `after_id`; `next_after_id`
    is non-zero when there may be more.
    """
    now = now or timezone.now()
    older = (
        settings.PAYMENT_SYNC_AFTER_SECONDS if older_than_seconds is None else older_than_seconds
    )
    limit = batch_size or settings.PAYMENT_SYNC_BATCH_SIZE
    rows = list(
        PaymentAttempt.objects.filter(
            status__in=PaymentAttempt.OPEN_STATUSES,
            created_at__lte=now - timedelta(seconds=older),
            pk__gt=after_id,
        )
        .order_by("pk")
        .values_list("pk", "order__status")[:limit]
    )
    counts = {"queried": 0, "settled": 0, "closed": 0, "failed": 0}
    for attempt_id, order_status in rows:
        try:
            if order_status in (S.PENDING_PAYMENT, None):  # None: a top-up's attempt
                counts["queried"] += 1
                state = payment_attempt_query(attempt_id=attempt_id, now=now)
                counts["settled"] += state in PAID_TRADE_STATES
            else:
                counts["closed"] += (
                    payment_attempt_close(attempt_id=attempt_id, now=now) == A.CLOSED
                )
        except WechatUnavailable as exc:
            counts["failed"] += 1
            logger.warning("payment sync of attempt %s: %r", attempt_id, exc)
    next_after_id = rows[-1][0] if len(rows) == limit else 0
    return counts | {"next_after_id": next_after_id}


# --- expiry ---
def order_expire(*, order_id: int, now: datetime | None = None) -> bool:
    """Expire an unpaid order past its deadline, WeChat first: each open attempt is queried
    (a paid one settles the order instead), then the order is cancelled through orders'
    `order_close_if_unpaid` (stock and benefits back, exactly once), then its WeChat trades
    are closed (closeorder's ORDERPAID settles the payment, which is then refunded). Returns
    whether this call cancelled the order. Safe to run twice and concurrently.

    Raises: WechatUnavailable while WeChat cannot say whether the order was paid, for
    PAYMENT_EXPIRY_WECHAT_GRACE_SECONDS after the deadline; after that the order is cancelled
    anyway (a late payment is then refunded automatically).
    """
    now = now or timezone.now()
    order = Order.objects.filter(pk=order_id).only("status", "expires_at").first()
    if order is None or order.status != S.PENDING_PAYMENT or order.expires_at > now:
        return False
    open_ids = list(
        PaymentAttempt.objects.filter(order_id=order_id, status__in=PaymentAttempt.OPEN_STATUSES)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    grace = timedelta(seconds=settings.PAYMENT_EXPIRY_WECHAT_GRACE_SECONDS)
    for attempt_id in open_ids:
        try:
            if payment_attempt_query(attempt_id=attempt_id, now=now) in PAID_TRADE_STATES:
                return False  # paid after all: settled, not expired
        except WechatUnavailable:
            if now - order.expires_at < grace:
                raise
            logger.warning(
                "order %s expires without WeChat's answer on attempt %s", order_id, attempt_id
            )
    cancelled = order_close_if_unpaid(order_id=order_id, now=now)
    for attempt_id in open_ids:
        try:
            payment_attempt_close(attempt_id=attempt_id, now=now)
        except WechatUnavailable as exc:  # the sync beat closes it later
            logger.warning("closing attempt %s of expired order %s: %r", attempt_id, order_id, exc)
    return cancelled
