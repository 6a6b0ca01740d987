"""Order creation: one durable transaction, replay-safe through the Idempotency-Key."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from catalog.stock import StockLine, stock_reserve
from mall.coalesce import publish_at_most_every
from mall.errors import IdempotencyKeyReused, PriceChanged
from members.models import Member
from members.points import points_spend
from members.stored_value import stored_value_debit

from ..models import CartItem, Order, OrderLine, OrderStatus, OrderStatusLog
from ..pricing import CheckoutRequest, PricingInputs, Quote, quote_as_breakdown
from ..selectors import checkout_quote, stock_held_skus
from .cart import member_lock
from .lifecycle import member_actor

ORDER_NO_ATTEMPTS = 5


def checkout_request_hash(
    *, checkout: CheckoutRequest, expected_payable_fen: int, note: str
) -> str:
    """A fingerprint of the order request: a replayed Idempotency-Key must carry the same one."""
    body = asdict(checkout) | {"expected_payable_fen": expected_payable_fen, "note": note}
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def order_no_new(now: datetime) -> str:
    """ "YYYYMMDD" (Beijing date) + 10 random digits: readable, not guessable in sequence."""
    return f"{timezone.localdate(now):%Y%m%d}{secrets.randbelow(10**10):010d}"


def pickup_code_new() -> str:
    return f"{secrets.randbelow(10**6):06d}"


@transaction.atomic(durable=True)
def order_create(
    *,
    member: Member,
    client_token: str,
    checkout: CheckoutRequest,
    expected_payable_fen: int,
    note: str = "",
) -> tuple[Order, bool]:
    """Create an order from lines or the cart; returns (order, created). A repeated
    client_token with the same request returns the first order (created=False). A new order
    comes with its lines and status log in hand (`order.lines.all()` runs no query).

    Raises: IdempotencyKeyReused, PriceChanged (with the new breakdown), CartEmpty,
    ProductUnavailable, OutOfStock, DeliveryUnavailable, BalanceInsufficient, and price_cart's
    errors, and what the discount providers' commit() raises. Nothing is written when it raises.
    A stored-value amount (`checkout.balance_fen`, capped by the balance under the member's lock)
    and the points are taken in this transaction; each provider takes what the order uses (a
    coupon, flash stock, a group seat) in its commit().
    """
    request_hash = checkout_request_hash(
        checkout=checkout, expected_payable_fen=expected_payable_fen, note=note
    )
    member_lock(member=member)  # serialise this member's creations: one order per key
    with connection.cursor() as cursor:  # plain SQL: every order asks, almost always in vain
        cursor.execute(_EXISTING_SQL, [member.pk, client_token])
        existing = cursor.fetchone()
    if existing is not None:
        existing_id, existing_no, existing_hash = existing
        if existing_hash != request_hash:
            raise IdempotencyKeyReused(order_no=existing_no)
        return Order.objects.get(pk=existing_id), False

    # Price with the balance and points as they are under the lock, not as loaded.
    if checkout.balance_fen and checkout.points:
        member.refresh_from_db(fields=["balance_fen", "points_balance"])
    elif checkout.balance_fen:
        member.refresh_from_db(fields=["balance_fen"])
    elif checkout.points or checkout.promotion is not None:
        member.refresh_from_db(fields=["points_balance"])
    now = timezone.now()
    inputs, quote = checkout_quote(member=member, checkout=checkout, now=now)
    if quote.payable_fen != expected_payable_fen:
        raise PriceChanged(
            expected_payable_fen=expected_payable_fen, breakdown=quote_as_breakdown(quote)
        )
    held = stock_held_skus(inputs.discounts)
    order = _order_insert(
        member=member,
        client_token=client_token,
        request_hash=request_hash,
        checkout=checkout,
        quote=quote,
        note=note,
        now=now,
        timeout_s=_payment_timeout_s(inputs),
    )
    stock_reserve(
        lines=[
            StockLine(sku_id=line.sku_id, qty=line.quantity)
            for line in quote.lines
            if line.sku_id not in held
        ],
        reference=order.no,
    )
    if quote.points_used:
        points_spend(member_id=member.pk, points=quote.points_used, reference=f"order:{order.no}")
    if quote.balance_fen:
        # Held by the order from now on: given back if it is cancelled or expires, recorded in
        # the money ledger (balance_spend) by payments when the order is paid.
        stored_value_debit(member_id=member.pk, amount_fen=quote.balance_fen, reference=order.no)
    lines = OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            sku_id=line.sku_id,
            product_id=line.product_id,
            title=line.title[:120],
            spec_text=line.spec_text[:255],
            image_url=line.image_url[:500],
            unit_price_fen=line.unit_price_fen,
            quantity=line.quantity,
            discount_fen=line.discount_fen,
            paid_fen=line.paid_fen,
            stock_held_by=held.get(line.sku_id, ""),
        )
        for line in quote.lines
    )
    log = OrderStatusLog.objects.create(
        order=order,
        from_status="",
        to_status=OrderStatus.PENDING_PAYMENT,
        actor=member_actor(member),
        note="提交订单",
    )
    _prefetched_set(order, lines=lines, status_logs=[log])
    for loaded in inputs.discounts:
        commit = getattr(loaded.provider, "commit", None)
        if commit is not None:
            commit(member=member, order=order, quote=quote, loaded=loaded.loaded, now=now)
    if checkout.from_cart:
        CartItem.objects.filter(
            member=member, sku_id__in=[line.sku_id for line in quote.lines if not line.gift_ref]
        ).delete()
    _expiry_queue(order_id=order.pk, countdown=(order.expires_at - now).total_seconds())
    return order, True


EXPIRY_COALESCE_SECONDS = 1.0


def _expiry_queue(*, order_id: int, countdown: float) -> None:
    """On commit, the task that expires the order when its payment time is up.

    Orders created by this process within EXPIRY_COALESCE_SECONDS with the same timeout share
    one run of orders_expire_due_task, EXPIRY_COALESCE_SECONDS or more after the last deadline:
    one publish instead of one per order (a publish costs about a tenth of an order's CPU), and
    workers hold a few delayed messages instead of one per unpaid order. The beat sweep stays the
    safety net. Eager Celery (tests, the embedded mode) runs the order's own task instead."""
    from ..tasks import order_close_if_unpaid_task, orders_expire_due_task

    if order_close_if_unpaid_task.app.conf.task_always_eager:
        transaction.on_commit(
            lambda: order_close_if_unpaid_task.apply_async((order_id,), countdown=countdown)
        )
        return
    key = ("orders:expiry", round(countdown))  # orders of one payment timeout share a run

    def expire_soon() -> None:  # runs EXPIRY_COALESCE_SECONDS or more after this deadline
        orders_expire_due_task.apply_async(countdown=countdown + 2 * EXPIRY_COALESCE_SECONDS)

    transaction.on_commit(lambda: publish_at_most_every(key, EXPIRY_COALESCE_SECONDS, expire_soon))


_EXISTING_SQL = (
    f"SELECT id, no, request_hash FROM {Order._meta.db_table} "  # noqa: S608 - our table
    "WHERE member_id = %s AND client_token = %s"
)


def _payment_timeout_s(inputs: PricingInputs) -> int:
    """The shortest payment timeout of the order's promotions (a flash sale: 5 min), else the
    shop's."""
    timeouts = [settings.ORDER_PAYMENT_TIMEOUT]
    for loaded in inputs.discounts:
        method = getattr(loaded.provider, "payment_timeout_s", None)
        timeout = method(loaded=loaded.loaded) if method is not None else None
        if timeout:
            timeouts.append(timeout)
    return min(timeouts)


def _prefetched_set(order: Order, **related: list[Any]) -> None:
    """Leave `order.<name>.all()` answering the objects in hand, as prefetch_related would
    (same cache, no query): the caller can show the new order without reading it back."""
    cache = order.__dict__.setdefault("_prefetched_objects_cache", {})
    for name, objs in related.items():
        queryset = getattr(order, name).get_queryset()
        queryset._result_cache = objs
        queryset._prefetch_done = True
        cache[name] = queryset


def _order_insert(
    *,
    member: Member,
    client_token: str,
    request_hash: str,
    checkout: CheckoutRequest,
    quote: Quote,
    note: str,
    now: datetime,
    timeout_s: int,
) -> Order:
    is_pickup = quote.delivery.type == Order.DeliveryType.PICKUP
    for attempt in range(ORDER_NO_ATTEMPTS):
        order = Order(
            no=order_no_new(now),
            member=member,
            client_token=client_token,
            request_hash=request_hash,
            delivery_type=quote.delivery.type,
            address=quote.delivery.address,
            pickup_point_id=quote.delivery.pickup_point_id,
            pickup_code=pickup_code_new() if is_pickup else "",
            breakdown=quote_as_breakdown(quote),
            goods_fen=quote.goods_fen,
            discount_fen=quote.discount_fen,
            shipping_fen=quote.shipping_fen,
            points_used=quote.points_used,
            points_fen=quote.points_fen,
            balance_fen=quote.balance_fen,
            payable_fen=quote.payable_fen,
            wechat_pay_fen=quote.wechat_pay_fen,
            note=note,
            promotion_kind=checkout.promotion.kind if checkout.promotion else "",
            promotion_id=checkout.promotion.id if checkout.promotion else None,
            expires_at=now + timedelta(seconds=timeout_s),
            created_at=now,
        )
        try:
            # A savepoint: a colliding order no or open pickup code must not abort the order.
            with transaction.atomic():
                order.save(force_insert=True)
        except IntegrityError:
            if attempt == ORDER_NO_ATTEMPTS - 1:
                raise
            continue
        return order
    raise AssertionError("unreachable")
