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
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from mall.celery import app
from mall.coalesce import publish_at_most_every
from mall.errors import OrderAlreadyPaid, OrderNotPayable, WechatUnavailable
from mall.money import yuan
from members.models import Member
from members.subscribe_messages import subscribe_messages_queue_many
from orders.models import Order, OrderStatus
from orders.selectors import (
    order_get_for_expiry,
    order_get_for_payment,
    order_ids_paid_effects_due,
    order_line_titles,
    order_lock_for_payment,
    order_no_and_status_get,
    order_status_get,
    orders_first_line_titles,
    orders_paid_for_messages,
)
from orders.services import order_close_if_unpaid, order_transition

from .. import task_names, wechat
from ..models import PaymentAttempt
from .paid_effects import order_paid_effects_apply
from .prepay import MIN_TIME_EXPIRE, PREPAY_REUSE_MARGIN, PREPAY_TTL, payment_notify_url
from .refunds import refund_for_attempt_locked
from .settle import order_attempt_paid_fast, order_attempt_paid_locked, order_balance_spend_record
from .top_ups import top_up_paid_locked

logger = logging.getLogger(__name__)

CREATED_ATTEMPT_GRACE = timedelta(minutes=1)  # its unifiedorder may still be on the wire
ALREADY_PAID_STATUSES = (
    OrderStatus.PAID,
    OrderStatus.SHIPPED,
    OrderStatus.RECEIVED,
    OrderStatus.COMPLETED,
)
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
    order = order_lock_for_payment(member=member, no=order_no)
    if order.status in ALREADY_PAID_STATUSES:
        raise OrderAlreadyPaid(status=order.status)
    if order.status != OrderStatus.PENDING_PAYMENT:
        raise OrderNotPayable(status=order.status)
    if order.expires_at <= now:
        raise OrderNotPayable("订单已超时，请重新下单", status="expired")
    if order.wechat_pay_fen == 0:
        _order_paid_without_wechat_locked(order=order, now=now)
        return _PayStep(is_paid=True)
    reusable = (
        PaymentAttempt.objects.filter(
            order=order,
            status=PaymentAttempt.Status.PREPAID,
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
    titles = order_line_titles(order_id=order.pk, limit=2)
    first = titles[0][:40] if titles else "商品"
    return f"{first}等多件商品" if len(titles) > 1 else first


def _order_paid_without_wechat_locked(*, order: Order, now: datetime) -> None:
    """Nothing to pay by WeChat (stored value or discounts covered it). The caller holds the
    order's lock. The balance it took at creation is recorded as spent (a balance ledger row)."""
    won = order_transition(
        order_id=order.pk,
        from_status=OrderStatus.PENDING_PAYMENT,
        to_status=OrderStatus.PAID,
        actor="system",
        note="无需微信支付",
        paid_at=now,
    )
    if won:
        order_balance_spend_record(order=order, occurred_at=now)
        order_paid_effects_apply(order_id=order.pk)
        _paid_followups_queue(order.pk)


def _order_pay_prepaid(*, attempt: PaymentAttempt, prepay_id: str, now: datetime) -> dict[str, Any]:
    """Store the prepay (a conditional update: expiry may have closed the attempt meanwhile) and
    re-read the order: one that stopped being payable gets its new WeChat trade closed."""
    stored = PaymentAttempt.objects.filter(
        pk=attempt.pk, status=PaymentAttempt.Status.CREATED
    ).update(
        status=PaymentAttempt.Status.PREPAID,
        prepay_id=prepay_id,
        prepay_expires_at=min(now + PREPAY_TTL, attempt.time_expire or now + PREPAY_TTL),
    )
    order_status = order_status_get(order_id=attempt.order_id)
    if stored and order_status == OrderStatus.PENDING_PAYMENT:
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
    *,
    out_trade_no: str,
    transaction_id: str,
    total_fee: int,
    paid_at: datetime,
    source: str,
    one_statement: bool = True,
) -> SettleOutcome:
    """Record a payment WeChat reports (notification, orderquery or closeorder's ORDERPAID):
    one ledger row "wxpay:<transaction_id>", the attempt paid, the order pending → paid; an order
    that can no longer be paid (cancelled, closed, paid by another attempt) keeps the money
    recorded and gets an automatic full refund of this attempt. Safe to call any number of times.
    Follow-ups (the payment's effects in other apps, the subscribe message, closing other open
    attempts) are queued on commit. `one_statement=False` skips the one-statement path (the
    tests check that both paths write the same rows).
    """
    if one_statement:  # a new payment or a replay: one statement (settle.py)
        fast = order_attempt_paid_fast(
            out_trade_no=out_trade_no,
            transaction_id=transaction_id,
            amount_fen=total_fee,
            paid_at=paid_at,
            source=source,
        )
        if fast.order_id is not None:
            _paid_followups_queue(fast.order_id, coalesce=True)
            return SettleOutcome.SETTLED
        if fast.status == PaymentAttempt.Status.PAID and fast.transaction_id == transaction_id:
            return SettleOutcome.ALREADY_SETTLED
    return _payment_settle_atomic(
        out_trade_no=out_trade_no,
        transaction_id=transaction_id,
        total_fee=total_fee,
        paid_at=paid_at,
        source=source,
    )


def _paid_followups_queue(order_id: int, *, coalesce: bool = False) -> None:
    """On commit (at once in autocommit): the paid order's follow-ups. robust: the payment is
    committed; a failing follow-up (run eagerly in the embedded mode) is logged, never turned
    into an error answer that makes WeChat send it again (the sweep catches up).

    `coalesce` (the notification's fast path, whose effects are still due): instead of one task
    per payment, at most one sweep task per FOLLOWUPS_COALESCE_SECONDS from this process, run
    after twice that delay, picks up every order paid meanwhile: a Celery publish costs more than
    the payment's own write. Eager Celery (tests, the embedded mode) runs the order's task at once instead."""
    if not coalesce or app.conf.task_always_eager:
        followups = app.signature(task_names.PAYMENT_PAID_FOLLOWUPS, args=(order_id,))
        transaction.on_commit(followups.delay, robust=True)
        return

    def sweep_soon() -> None:  # runs FOLLOWUPS_COALESCE_SECONDS or more after this commit
        app.signature(task_names.PAID_FOLLOWUPS_SWEEP).apply_async(
            kwargs={"older_than_seconds": 0}, countdown=2 * FOLLOWUPS_COALESCE_SECONDS
        )

    transaction.on_commit(
        lambda: publish_at_most_every(
            "payments:paid-followups", FOLLOWUPS_COALESCE_SECONDS, sweep_soon
        ),
        robust=True,
    )


FOLLOWUPS_COALESCE_SECONDS = 1.0


@transaction.atomic(durable=True)
def _payment_settle_atomic(
    *, out_trade_no: str, transaction_id: str, total_fee: int, paid_at: datetime, source: str
) -> SettleOutcome:
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
    if attempt.status == PaymentAttempt.Status.PAID:
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
    # An order's unpaid attempt of this amount (a promotion's order, or one no longer pending).
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
    """Settle an order's unpaid attempt of this amount, the attempt locked (None: no such
    attempt, nothing written): attempt paid, ledger row, order pending → paid and its effects
    (an order with a promotion needs them now; they are idempotent for the others); an order
    that can no longer take the money gets this attempt refunded."""
    paid = order_attempt_paid_locked(
        out_trade_no=out_trade_no,
        transaction_id=transaction_id,
        amount_fen=total_fee,
        paid_at=paid_at,
        source=source,
    )
    if paid is None:
        return None
    order_id, moved = paid
    if moved:
        order_paid_effects_apply(order_id=order_id)
        _paid_followups_queue(order_id)
        return SettleOutcome.SETTLED
    attempt = PaymentAttempt.objects.get(out_trade_no=out_trade_no)  # locked by the caller
    order_no, current = order_no_and_status_get(order_id=order_id)
    reason = (
        "订单已支付，重复付款自动退回"
        if current in ALREADY_PAID_STATUSES
        else "订单已关闭，付款自动退回"
    )
    logger.warning("payment %s for order %s (%s): refunding it", transaction_id, order_no, current)
    refund_for_attempt_locked(attempt=attempt, reason=reason)
    return SettleOutcome.REFUNDING


def order_paid_followups(*, order_id: int) -> None:
    """After an order is paid (a task, safe to run twice): its effects in other apps (once,
    paid_effects.py), the "order_paid" subscribe message (deduplicated) and the closing of the
    order's other open WeChat trades."""
    order_paid_effects_apply(order_id=order_id)  # unless the payment's transaction applied them
    _orders_paid_messages_and_close(order_ids=[order_id])


def _orders_paid_messages_and_close(*, order_ids: list[int]) -> None:
    """The paid orders' "order_paid" messages (two reads, one insert, deduplicated by order no;
    sent by workers after the commit) and the closing of their other open WeChat trades."""
    first_titles = orders_first_line_titles(order_ids=order_ids)
    orders = orders_paid_for_messages(order_ids=order_ids)  # not a payment refunded instead
    messages = [
        {
            "member_id": order["member_id"],
            "template_key": "order_paid",
            "data": {
                "character_string1": {"value": order["no"]},
                "amount2": {"value": f"{yuan(order['payable_fen'])}元"},
                "thing3": {"value": first_titles.get(order["pk"], "商品")[:20]},
                "time4": {"value": timezone.localtime(order["paid_at"]).strftime("%Y-%m-%d %H:%M")},
            },
            "page": f"pages/order/detail?no={order['no']}",
            "dedup_key": f"paid:{order['no']}",
        }
        for order in orders
    ]
    with transaction.atomic():
        subscribe_messages_queue_many(messages=messages)
    others = PaymentAttempt.objects.filter(
        order_id__in=order_ids, status__in=PaymentAttempt.OPEN_STATUSES
    )
    for attempt_id in list(others.order_by("pk").values_list("pk", flat=True)):
        try:
            payment_attempt_close(attempt_id=attempt_id)
        except WechatUnavailable as exc:  # the sync beat closes it later
            logger.warning("closing attempt %s after payment: %r", attempt_id, exc)


def paid_followups_sweep(
    *, now: datetime | None = None, older_than_seconds: int | None = None, batch_size: int = 500
) -> dict[str, int]:
    """Follow-ups of paid orders whose effects are still due `older_than_seconds` after payment,
    oldest first: 0 for the coalesced run the notifications queue, PAID_FOLLOWUPS_SWEEP_AFTER_SECONDS
    for the beat's safety net (a task lost: broker down at commit, a worker killed). Effects in
    one transaction per order; the messages of the orders this run applied, in one insert. Returns
    how many were due, how many this run applied (another may win some), and `more` when the
    batch was full."""
    now = now or timezone.now()
    older = (
        settings.PAID_FOLLOWUPS_SWEEP_AFTER_SECONDS
        if older_than_seconds is None
        else older_than_seconds
    )
    due = order_ids_paid_effects_due(paid_before=now - timedelta(seconds=older), limit=batch_size)
    applied = [order_id for order_id in due if order_paid_effects_apply(order_id=order_id)]
    if applied:
        _orders_paid_messages_and_close(order_ids=applied)
    if applied and older:
        logger.warning("follow-ups of %s paid orders run by the sweep (tasks lost?)", len(applied))
    return {"due": len(due), "applied": len(applied), "more": int(len(due) == batch_size)}


def payment_attempt_query(*, attempt_id: int, now: datetime | None = None) -> str:
    """orderquery one attempt and act on the answer: a paid trade is settled, a closed one
    marked closed. Returns WeChat's trade_state ("SUCCESS", "NOTPAY", …) or "ORDERNOTEXIST".

    Raises: WechatUnavailable (including WechatPayError for other refusals).
    """
    now = now or timezone.now()
    attempt = PaymentAttempt.objects.get(pk=attempt_id)
    if attempt.status == PaymentAttempt.Status.PAID:
        return "SUCCESS"
    try:
        result = wechat.order_query(attempt.out_trade_no)
    except wechat.WechatPayError as exc:
        if exc.err_code != "ORDERNOTEXIST":
            raise
        if (
            attempt.status == PaymentAttempt.Status.CREATED
            and attempt.created_at < now - CREATED_ATTEMPT_GRACE
        ):
            _attempt_mark_closed(
                attempt_id=attempt_id, from_statuses=(PaymentAttempt.Status.CREATED,), now=now
            )
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
    return PaymentAttempt.Status.CLOSED


def _attempt_mark_closed(*, attempt_id: int, from_statuses: tuple[str, ...], now: datetime) -> None:
    PaymentAttempt.objects.filter(pk=attempt_id, status__in=from_statuses).update(
        status=PaymentAttempt.Status.CLOSED, closed_at=now
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
    order = order_get_for_payment(member=member, no=order_no)
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
            if order_status in (OrderStatus.PENDING_PAYMENT, None):  # None: a top-up's attempt
                counts["queried"] += 1
                state = payment_attempt_query(attempt_id=attempt_id, now=now)
                counts["settled"] += state in PAID_TRADE_STATES
            else:
                counts["closed"] += (
                    payment_attempt_close(attempt_id=attempt_id, now=now)
                    == PaymentAttempt.Status.CLOSED
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
    order = order_get_for_expiry(order_id=order_id)
    if order is None or order.status != OrderStatus.PENDING_PAYMENT or order.expires_at > now:
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


def order_expire_unless_wechat_busy(*, order_id: int, now: datetime | None = None) -> bool:
    """order_expire as orders' expiry tasks, its beat sweep and `sweep_orders` run it: while
    WeChat cannot answer, the order waits for the next run (then the grace period ends, see
    order_expire)."""
    try:
        return order_expire(order_id=order_id, now=now)
    except WechatUnavailable as exc:
        logger.warning("expiry of order %s waits for WeChat: %r", order_id, exc)
        return False
