"""Points mall (积分商城): exchanging points (plus an optional cash part) for SKUs or coupons.

A SKU item is exchanged through a normal order (`promotion: {"kind": "points_mall", "id"}`):
PointsMallProvider prices it (goods − cash part off, the item's points as the adjustment's
points_cost, spent with the order as "order:<no>") and, inside order creation, takes the item's
stock here and records the exchange (order_id unique). The orders and payments hooks call back:
paid → done, cancelled/expired → released (stock back), fully refunded → refunded (stock back; the
points come back with the order's points refund). A coupon item is exchanged directly: points
spent and coupon issued in one transaction, idempotent by the client's Idempotency-Key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F, Q, QuerySet, Sum

from mall.errors import (
    PointsMallItemUnavailable,
    PointsMallLimitReached,
    PointsMallSoldOut,
    PromotionUnavailable,
)
from members.models import Member
from members.points import points_spend
from members.services import member_lock

from ..models import Coupon, PointsMallExchange, PointsMallItem
from .coupons import coupon_issue

PROMOTION_KIND = "points_mall"
# What counts against the per-member limit.
COUNTED_STATUSES = (PointsMallExchange.Status.HELD, PointsMallExchange.Status.DONE)


@dataclass(frozen=True)
class PointsMallChoice:
    item_id: int
    sku_id: int
    quantity: int
    points: int  # per unit
    cash_fen: int  # per unit

    @property
    def ref(self) -> str:
        return f"points_mall:{self.item_id}"

    @property
    def points_cost(self) -> int:
        return self.points * self.quantity


def points_mall_items_for_sale() -> QuerySet[PointsMallItem]:
    """Active items a shopper can see: SKU items of active SKUs of on-shelf products."""
    return (
        PointsMallItem.objects.filter(is_active=True)
        .filter(
            Q(kind=PointsMallItem.Kind.COUPON)
            | Q(sku__is_active=True, sku__product__is_on_shelf=True)
        )
        .select_related("sku__product", "coupon_template")
        .order_by("sort_order", "-id")
    )


def _member_exchanged_qty(*, member_id: int, item_id: int) -> int:
    return (
        PointsMallExchange.objects.filter(
            member_id=member_id, item_id=item_id, status__in=COUNTED_STATUSES
        ).aggregate(n=Sum("quantity"))["n"]
        or 0
    )


def _limit_check(*, item: PointsMallItem, member_id: int, quantity: int) -> None:
    taken = _member_exchanged_qty(member_id=member_id, item_id=item.pk)
    if taken + quantity > item.per_member_limit:
        raise PointsMallLimitReached(limit=item.per_member_limit, exchanged=taken, item_id=item.pk)


def points_mall_choice_load(
    *, member: Member, item_id: int | None, lines: Sequence[Any]
) -> PointsMallChoice:
    """Check a SKU exchange at checkout (one line: the item's SKU, within the limit and stock).

    Raises: PromotionUnavailable, PointsMallItemUnavailable, PointsMallLimitReached,
    PointsMallSoldOut.
    """
    if len(lines) != 1 or item_id is None:
        raise PromotionUnavailable("积分兑换只能单独下单一件商品", kind=PROMOTION_KIND)
    item = PointsMallItem.objects.filter(pk=item_id, is_active=True).first()
    line = lines[0]
    if item is None or item.kind != PointsMallItem.Kind.SKU or item.sku_id != line.sku_id:
        raise PointsMallItemUnavailable(item_id=item_id)
    if item.stock < line.quantity:
        raise PointsMallSoldOut(item_id=item_id, stock=item.stock)
    _limit_check(item=item, member_id=member.pk, quantity=line.quantity)
    return PointsMallChoice(
        item_id=item.pk,
        sku_id=item.sku_id,
        quantity=line.quantity,
        points=item.points,
        cash_fen=item.cash_fen,
    )


def _stock_take(*, item_id: int, quantity: int) -> None:
    taken = PointsMallItem.objects.filter(pk=item_id, is_active=True, stock__gte=quantity).update(
        stock=F("stock") - quantity, exchanged_count=F("exchanged_count") + quantity
    )
    if not taken:
        raise PointsMallSoldOut(item_id=item_id)


def _stock_return(*, item_id: int, quantity: int) -> None:
    PointsMallItem.objects.filter(pk=item_id).update(
        stock=F("stock") + quantity, exchanged_count=F("exchanged_count") - quantity
    )


def points_mall_order_hold_locked(
    *, member_id: int, choice: PointsMallChoice, order_id: int, order_no: str
) -> PointsMallExchange:
    """Inside order creation (which holds the member's lock): re-check the limit, take the
    item's stock (conditional UPDATE) and record the exchange of the order.

    Raises: PointsMallLimitReached, PointsMallSoldOut (the order is then not created).
    """
    item = PointsMallItem.objects.get(pk=choice.item_id)
    _limit_check(item=item, member_id=member_id, quantity=choice.quantity)
    _stock_take(item_id=choice.item_id, quantity=choice.quantity)
    return PointsMallExchange.objects.create(
        member_id=member_id,
        item_id=choice.item_id,
        quantity=choice.quantity,
        points=choice.points_cost,
        cash_fen=choice.cash_fen * choice.quantity,
        order_id=order_id,
        order_no=order_no,
        status=PointsMallExchange.Status.HELD,
    )


def points_mall_order_paid(*, order_id: int) -> bool:
    """The exchange's order is paid (payments' pending→paid transaction)."""
    return bool(
        PointsMallExchange.objects.filter(
            order_id=order_id, status=PointsMallExchange.Status.HELD
        ).update(status=PointsMallExchange.Status.DONE)
    )


def _order_exchange_close(*, order_id: int, from_statuses: tuple[str, ...], to: str) -> bool:
    exchange = (
        PointsMallExchange.objects.select_for_update()
        .filter(order_id=order_id, status__in=from_statuses)
        .first()
    )
    if exchange is None:
        return False
    PointsMallExchange.objects.filter(pk=exchange.pk).update(status=to)
    _stock_return(item_id=exchange.item_id, quantity=exchange.quantity)
    return True


def points_mall_order_release(*, order_id: int) -> bool:
    """The unpaid order was cancelled or expired: the item's stock comes back (once). The points
    come back with the order's own points refund ("order:<no>")."""
    return _order_exchange_close(
        order_id=order_id,
        from_statuses=(PointsMallExchange.Status.HELD,),
        to=PointsMallExchange.Status.RELEASED,
    )


def points_mall_order_refunded(*, order_id: int) -> bool:
    """The paid order was fully refunded: the item's stock comes back (once) and the exchange no
    longer counts against the member's limit."""
    return _order_exchange_close(
        order_id=order_id,
        from_statuses=(PointsMallExchange.Status.HELD, PointsMallExchange.Status.DONE),
        to=PointsMallExchange.Status.REFUNDED,
    )


@transaction.atomic(durable=True)
def points_mall_coupon_exchange(
    *, member: Member, item_id: int, client_token: str
) -> tuple[PointsMallExchange, bool]:
    """Exchange points for a coupon item: points spent and the coupon issued in one transaction;
    returns (exchange, created). A repeated client_token returns the first exchange.

    Raises: PointsMallItemUnavailable, PointsMallLimitReached, PointsMallSoldOut,
    PointsInsufficient, and the coupon service's CouponNotFound / CouponExpired / CouponSoldOut
    (nothing is written then).
    """
    if not member_lock(member_id=member.pk):
        raise Member.DoesNotExist(f"member {member.pk}")
    existing = PointsMallExchange.objects.filter(member=member, client_token=client_token).first()
    if existing is not None:
        return existing, False
    item = PointsMallItem.objects.filter(pk=item_id, is_active=True).first()
    if item is None or item.kind != PointsMallItem.Kind.COUPON:
        raise PointsMallItemUnavailable(item_id=item_id)
    _limit_check(item=item, member_id=member.pk, quantity=1)
    _stock_take(item_id=item.pk, quantity=1)
    exchange = PointsMallExchange.objects.create(
        member=member,
        item=item,
        quantity=1,
        points=item.points,
        client_token=client_token,
        status=PointsMallExchange.Status.DONE,
    )
    points_spend(member_id=member.pk, points=item.points, reference=f"points_mall:{exchange.pk}")
    coupon = coupon_issue(
        template_id=item.coupon_template_id,
        member_id=member.pk,
        source=Coupon.Source.POINTS_MALL,
        source_ref=f"points_mall:{exchange.pk}",
    )
    exchange.coupon = coupon
    PointsMallExchange.objects.filter(pk=exchange.pk).update(coupon=coupon)
    return exchange, True
