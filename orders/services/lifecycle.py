"""The order state machine: transitions are data, and every move is a conditional UPDATE.

`order_transition` is the only code that changes `Order.status`. Whoever wins the UPDATE does the
side effects (stock back, messages) in the same transaction, so a countdown task, the sweep and a
shopper racing each other restore stock exactly once.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from catalog.stock import StockLine, stock_release
from mall.celery import app
from mall.errors import OrderStatusInvalid, PickupCodeInvalid, WechatUnavailable
from marketing.services.campaigns import campaign_usages_release
from marketing.services.coupons import coupon_release_for_order
from marketing.services.flash_sale import KIND as FLASH_KIND
from marketing.services.flash_sale import flash_release_for_order
from marketing.services.group_buy import (
    GROUP_BUY_KINDS,
    group_buy_order_blocks_shipping,
    group_seat_release_for_order,
)
from marketing.services.points_mall import PROMOTION_KIND as POINTS_MALL_KIND
from marketing.services.points_mall import points_mall_order_release
from members.models import Member
from members.points import points_refund
from members.stored_value import stored_value_credit
from members.subscribe_messages import subscribe_message_queue

from .. import sql, task_names
from ..models import (
    ALLOWED_TRANSITIONS,
    TIMESTAMP_FIELD,
    Order,
    OrderLine,
    OrderStatus,
    OrderStatusLog,
    TransitionNotAllowed,
)
from ..pricing import breakdown_benefits
from .shipping import UPLOADABLE, order_shipping_info_upload

logger = logging.getLogger(__name__)

MEMBER_DELETABLE = (OrderStatus.CANCELLED, OrderStatus.COMPLETED, OrderStatus.CLOSED)


@transaction.atomic(savepoint=False)
def order_transition(
    *,
    order_id: int,
    from_status: str,
    to_status: str,
    actor: str,
    note: str = "",
    **fields: Any,
) -> bool:
    """Move an order from `from_status` to `to_status` if it is still there; returns whether this
    call won (only the winner's log row is written). `fields` are set in the same UPDATE; the
    status's timestamp (paid_at …) defaults to now.

    Raises: TransitionNotAllowed for a pair the state machine does not have.
    """
    if to_status not in ALLOWED_TRANSITIONS.get(from_status, frozenset()):
        raise TransitionNotAllowed(f"{from_status} → {to_status}")
    fields.setdefault(TIMESTAMP_FIELD[to_status], timezone.now())
    won = Order.objects.filter(pk=order_id, status=from_status).update(status=to_status, **fields)
    if won:
        OrderStatusLog.objects.create(
            order_id=order_id,
            from_status=from_status,
            to_status=to_status,
            actor=actor,
            note=note[:200],
        )
    return bool(won)


def order_paid_effects_claim(*, order_id: int, now: datetime) -> dict[str, Any] | None:
    """Claim the paid order's effects in other apps for the caller's transaction (payments
    applies them once): `Order.paid_effects_at` is set by a conditional UPDATE that also reads
    what the effects need (orders.sql.PAID_EFFECTS_CLAIMED_FIELDS). None when the order is not
    paid or its effects were claimed already."""
    return sql.order_paid_effects_claim(order_id=order_id, now=now)


def order_line_refunded_add(*, order_line_id: int, quantity: int, amount_fen: int) -> None:
    """A refund of the line succeeded: add its units and amount to what the line has refunded
    (relative, so refunds settling one after another add up)."""
    OrderLine.objects.filter(pk=order_line_id).update(
        refunded_quantity=F("refunded_quantity") + quantity,
        refunded_fen=F("refunded_fen") + amount_fen,
    )


def member_actor(member: Member | int) -> str:
    return f"member:{member if isinstance(member, int) else member.pk}"


# --- unpaid orders: cancel and expiry ---
def _order_release_stock(order: Order) -> None:
    # Lines whose units a promotion's own pool held go back there (_order_release_benefits).
    lines = OrderLine.objects.filter(order_id=order.pk, stock_held_by="").values_list(
        "sku_id", "quantity"
    )
    stock_release(
        lines=[StockLine(sku_id=sku_id, qty=qty) for sku_id, qty in lines], reference=order.no
    )


def _order_release_benefits(order: Order) -> None:
    """Give back what the order took besides stock: coupons, points, stored value.

    Called only by the winner of the cancel transition, so each benefit comes back exactly once.
    The stored value held by an unpaid order was never recorded as spent (payments writes the
    balance_spend ledger row when the order is paid), so its return writes no ledger row.
    """
    if order.balance_fen:
        stored_value_credit(
            member_id=order.member_id, amount_fen=order.balance_fen, reference=f"{order.no}:cancel"
        )
    if order.points_used:
        points_refund(
            member_id=order.member_id, points=order.points_used, reference=f"order:{order.no}"
        )
    # What the order's promotion and discounts took (only the hooks it has something for).
    if order.promotion_kind in GROUP_BUY_KINDS:
        group_seat_release_for_order(order_id=order.pk)
    elif order.promotion_kind == FLASH_KIND:
        flash_release_for_order(order_id=order.pk)
    elif order.promotion_kind == POINTS_MALL_KIND:
        points_mall_order_release(order_id=order.pk)
    uses_coupon, uses_campaign = breakdown_benefits(order.breakdown)
    if uses_coupon:
        coupon_release_for_order(order_id=order.pk)
    if uses_campaign:
        campaign_usages_release(order_id=order.pk)


def _order_released_after_cancel(order: Order) -> None:
    _order_release_stock(order)
    _order_release_benefits(order)


@transaction.atomic(durable=True)
def order_cancel(*, order_id: int, actor: str, reason: str = "") -> Order:
    """Cancel an unpaid order (the shopper, or the merchant); a repeated cancel is a no-op.

    Raises: OrderStatusInvalid (already paid or closed).
    """
    won = order_transition(
        order_id=order_id,
        from_status=OrderStatus.PENDING_PAYMENT,
        to_status=OrderStatus.CANCELLED,
        actor=actor,
        note=reason,
        cancel_reason=reason[:200],
    )
    order = Order.objects.get(pk=order_id)
    if won:
        _order_released_after_cancel(order)
    elif order.status != OrderStatus.CANCELLED:
        raise OrderStatusInvalid("订单已支付或已关闭，无法取消", status=order.status)
    return order


@transaction.atomic(durable=True)
def order_close_if_unpaid(*, order_id: int, now: datetime | None = None) -> bool:
    """Cancel the order if it is still unpaid past its deadline; returns whether this call did.
    Safe to run twice and concurrently (the countdown task and the sweep both call it)."""
    now = now or timezone.now()
    order = (
        Order.objects.filter(pk=order_id)
        .only(
            "no",
            "status",
            "expires_at",
            "member_id",
            "balance_fen",
            "points_used",
            "promotion_kind",
            "breakdown",
        )
        .first()
    )
    if order is None or order.status != OrderStatus.PENDING_PAYMENT or order.expires_at > now:
        return False  # paid, cancelled, or an early/re-delivered task: the sweep comes later
    won = order_transition(
        order_id=order_id,
        from_status=OrderStatus.PENDING_PAYMENT,
        to_status=OrderStatus.CANCELLED,
        actor="system",
        note="超时未支付，自动取消",
        cancel_reason="超时未支付",
        cancelled_at=now,
    )
    if won:
        _order_released_after_cancel(order)
    return won


# --- receipt, completion, soft delete ---
@transaction.atomic(durable=True)
def order_receive(*, order_id: int, actor: str) -> Order:
    """The shopper confirms receipt (shipped → received); a repeat is a no-op.

    Raises: OrderStatusInvalid.
    """
    won = order_transition(
        order_id=order_id,
        from_status=OrderStatus.SHIPPED,
        to_status=OrderStatus.RECEIVED,
        actor=actor,
        note="确认收货",
    )
    order = Order.objects.get(pk=order_id)
    if not won and order.status not in (OrderStatus.RECEIVED, OrderStatus.COMPLETED):
        raise OrderStatusInvalid("订单尚未发货或已关闭", status=order.status)
    return order


@transaction.atomic(durable=True)
def order_auto_receive(*, order_id: int, now: datetime | None = None) -> bool:
    """Receive a shipped order ORDER_AUTO_RECEIVE_DAYS after shipping; returns whether it did."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.ORDER_AUTO_RECEIVE_DAYS)
    if not Order.objects.filter(
        pk=order_id, status=OrderStatus.SHIPPED, shipped_at__lte=cutoff
    ).exists():
        return False
    return order_transition(
        order_id=order_id,
        from_status=OrderStatus.SHIPPED,
        to_status=OrderStatus.RECEIVED,
        actor="system",
        note=f"发货 {settings.ORDER_AUTO_RECEIVE_DAYS} 天后自动确认收货",
        received_at=now,
    )


@transaction.atomic(durable=True)
def order_complete(*, order_id: int, now: datetime | None = None) -> bool:
    """Complete a received order once the after-sales window (AFTER_SALE_DAYS) has passed;
    returns whether it did. (The after-sales issue will also hold back orders with an open
    request here.)"""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.AFTER_SALE_DAYS)
    if not Order.objects.filter(
        pk=order_id, status=OrderStatus.RECEIVED, received_at__lte=cutoff
    ).exists():
        return False
    return order_transition(
        order_id=order_id,
        from_status=OrderStatus.RECEIVED,
        to_status=OrderStatus.COMPLETED,
        actor="system",
        note="售后期结束",
        completed_at=now,
    )


def order_delete_by_member(*, member: Member, order_id: int) -> None:
    """Hide a finished order from the shopper's list (soft; the merchant still sees it).

    Raises: Order.DoesNotExist, OrderStatusInvalid (still open).
    """
    hidden = Order.objects.filter(pk=order_id, member=member, status__in=MEMBER_DELETABLE).update(
        is_deleted_by_member=True
    )
    if not hidden:
        order = Order.objects.get(pk=order_id, member=member)
        raise OrderStatusInvalid("只能删除已取消、已完成或已关闭的订单", status=order.status)


# --- shipping and pickup ---
@transaction.atomic(durable=True)
def order_ship(*, order_id: int, carrier: str, tracking_no: str, actor: str) -> Order:
    """Ship a paid express order; then (after commit) the shopper gets a subscribe message and
    WeChat gets the shipping information. Repeating the same shipment is a no-op.

    Raises: OrderStatusInvalid (not paid, a pickup order, or shipped with another tracking no),
    django ValidationError (empty carrier or tracking no).
    """
    carrier, tracking_no = carrier.strip(), tracking_no.strip()
    if not carrier or not tracking_no:
        raise ValidationError({"tracking_no": "请填写快递公司和快递单号"})
    order = Order.objects.select_related("member").get(pk=order_id)
    if order.delivery_type != Order.DeliveryType.EXPRESS:
        raise OrderStatusInvalid(
            "自提订单无需发货，请核销自提码", delivery_type=order.delivery_type
        )
    if group_buy_order_blocks_shipping(order_id):  # 拼团: ships only once the group formed
        raise OrderStatusInvalid("拼团尚未成团，暂不能发货", status=order.status)
    won = order_transition(
        order_id=order_id,
        from_status=OrderStatus.PAID,
        to_status=OrderStatus.SHIPPED,
        actor=actor,
        note=f"{carrier} {tracking_no}",
        carrier=carrier[:32],
        tracking_no=tracking_no[:64],
    )
    order.refresh_from_db()
    if not won:
        if order.status == OrderStatus.SHIPPED and (order.carrier, order.tracking_no) == (
            carrier,
            tracking_no,
        ):
            return order  # the same shipment again (a re-run bulk upload)
        raise OrderStatusInvalid("订单未支付、已发货或已关闭", status=order.status)
    first_line = order.lines.order_by("id").first()
    subscribe_message_queue(
        member=order.member,
        template_key="order_shipped",
        data={
            "character_string1": {"value": order.no},
            "thing2": {"value": (first_line.title if first_line else "商品")[:20]},
            "thing3": {"value": carrier[:20]},
            "character_string4": {"value": tracking_no[:32]},
        },
        page=f"pages/order/detail?no={order.no}",
        dedup_key=f"shipped:{order.no}",
    )
    _shipping_info_upload_queue(order_id)
    return order


@transaction.atomic(durable=True)
def pickup_redeem(*, code: str, actor: str, order_id: int | None = None) -> Order:
    """核销: the merchant checks the shopper's pickup code and hands the goods over
    (paid → received). With order_id the code must be that order's; without, the code finds
    the open pickup order (codes are unique among them).

    Raises: PickupCodeInvalid, OrderStatusInvalid (not paid yet, or already picked up).
    """
    code = code.strip()
    orders = Order.objects.filter(delivery_type=Order.DeliveryType.PICKUP)
    if order_id is not None:
        order = orders.filter(pk=order_id).first()
        if order is None or not secrets.compare_digest(order.pickup_code, code):
            raise PickupCodeInvalid()
    else:
        order = orders.filter(pickup_code=code, status__in=Order.OPEN_PICKUP_STATUSES).first()
        if order is None or not code:
            raise PickupCodeInvalid()
    if group_buy_order_blocks_shipping(order.pk):  # 拼团: handed over only once the group formed
        raise OrderStatusInvalid("拼团尚未成团，暂不能提货", status=order.status)
    won = order_transition(
        order_id=order.pk,
        from_status=OrderStatus.PAID,
        to_status=OrderStatus.RECEIVED,
        actor=actor,
        note="自提核销",
    )
    if not won:
        order.refresh_from_db()
        message = (
            "订单尚未支付" if order.status == OrderStatus.PENDING_PAYMENT else "订单已核销或已关闭"
        )
        raise OrderStatusInvalid(message, status=order.status)
    _shipping_info_upload_queue(order.pk)
    order.refresh_from_db()
    return order


def _shipping_info_upload_queue(order_id: int) -> None:
    """On commit, the task that tells WeChat the order left (orders.shipping)."""
    upload = app.signature(task_names.ORDER_SHIPPING_INFO_UPLOAD, args=(order_id,))
    transaction.on_commit(upload.delay)


# --- the sweep: expiry, auto-receive, auto-complete in bounded batches ---
def orders_sweep(
    *,
    now: datetime | None = None,
    batch_size: int = 500,
    expire: Callable[..., bool] | None = None,
) -> dict[str, int]:
    """One bounded batch of each periodic move; `has_more` says a full batch was found (the task
    re-enqueues itself, the command loops). Safe to run twice and next to the workers: each
    order goes through its own service, whose conditional UPDATE lets one caller win. Also
    retries the WeChat shipping uploads that their task gave up on (`uploaded`).

    `expire(order_id=, now=)` handles each overdue unpaid order (default: order_close_if_unpaid;
    the beat task and the command pass payments' expiry, which asks WeChat Pay first)."""
    now = now or timezone.now()
    expired = orders_expire_due(now=now, batch_size=batch_size, expire=expire)
    receive_ids = list(
        Order.objects.filter(
            status=OrderStatus.SHIPPED,
            shipped_at__lte=now - timedelta(days=settings.ORDER_AUTO_RECEIVE_DAYS),
        )
        .order_by("shipped_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    complete_ids = list(
        Order.objects.filter(
            status=OrderStatus.RECEIVED,
            received_at__lte=now - timedelta(days=settings.AFTER_SALE_DAYS),
        )
        .order_by("received_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    counts = {
        "expired": expired["expired"],
        "received": sum(order_auto_receive(order_id=pk, now=now) for pk in receive_ids),
        "completed": sum(order_complete(order_id=pk, now=now) for pk in complete_ids),
        "uploaded": _shipping_info_uploads_retry(now=now, limit=min(batch_size, 50)),
    }
    more = expired["has_more"] or batch_size in (len(receive_ids), len(complete_ids))
    return counts | {"has_more": int(more)}


def orders_expire_due(
    *,
    now: datetime | None = None,
    batch_size: int = 500,
    expire: Callable[..., bool] | None = None,
) -> dict[str, int]:
    """One bounded batch of unpaid orders past their deadline, oldest first, each through
    `expire(order_id=, now=)` (default: order_close_if_unpaid). Returns how
    many this call cancelled and `has_more` when the batch was full."""
    now = now or timezone.now()
    expire = expire or order_close_if_unpaid
    expired_ids = list(
        Order.objects.filter(status=OrderStatus.PENDING_PAYMENT, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    expired = sum(expire(order_id=pk, now=now) for pk in expired_ids)
    return {"expired": expired, "has_more": int(len(expired_ids) == batch_size)}


SHIPPING_UPLOAD_GRACE = timedelta(minutes=30)


def _shipping_info_uploads_retry(*, now: datetime, limit: int) -> int:
    """The safety net of order_shipping_info_upload_task: orders handed over more than 30
    minutes ago and still unknown to WeChat get one more attempt each (no lock is held)."""
    cutoff = now - SHIPPING_UPLOAD_GRACE
    stuck = (
        Order.objects.filter(
            status__in=UPLOADABLE, shipping_info_uploaded_at__isnull=True, wechat_pay_fen__gt=0
        )
        .filter(
            Q(delivery_type=Order.DeliveryType.EXPRESS, shipped_at__lte=cutoff)
            | Q(delivery_type=Order.DeliveryType.PICKUP, received_at__lte=cutoff)
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    uploaded = 0
    for order_id in list(stuck):
        try:
            uploaded += order_shipping_info_upload(order_id=order_id)
        except WechatUnavailable as exc:  # WeChat still busy or down: next sweep
            logger.warning("shipping info of order %s: %r", order_id, exc)
    return uploaded
