"""Order creation: one durable transaction, replay-safe through the Idempotency-Key."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.stock import StockLine, stock_reserve
from mall.celery import app
from mall.coalesce import publish_at_most_every
from mall.errors import DomainError, IdempotencyKeyReused, PriceChanged
from members.models import Member
from members.points import points_spend
from members.stored_value import stored_value_debit

from .. import task_names
from ..models import CartItem, Order, OrderLine, OrderStatus, OrderStatusLog
from ..pricing import CheckoutRequest, PricingInputs, Quote, quote_as_breakdown
from ..selectors import checkout_quote, stock_held_skus
from ..sql import member_lock_and_order_by_token, order_by_token, order_rows_insert
from .lifecycle import member_actor

ORDER_NO_ATTEMPTS = 5


def checkout_request_hash(
    *, checkout: CheckoutRequest, expected_payable_fen: int, note: str
) -> str:
    """A fingerprint of the order request: a replayed Idempotency-Key must carry the same one.
    The repr of the frozen dataclasses is canonical (fields in declared order, tuples) and much
    cheaper than asdict() + JSON."""
    canonical = repr((checkout, expected_payable_fen, note))
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
    existing = _member_lock_and_replay(member=member, client_token=client_token)
    if existing is not None:
        return _replayed(existing, request_hash=request_hash), False

    now = timezone.now()
    try:
        inputs, quote = checkout_quote(member=member, checkout=checkout, now=now)
        if quote.payable_fen != expected_payable_fen:
            raise PriceChanged(
                expected_payable_fen=expected_payable_fen, breakdown=quote_as_breakdown(quote)
            )
    except DomainError:
        # The lock statement read the orders as they were before it waited for the lock: a
        # concurrent request with this key may have created its order (taking the stock, the
        # points…) meanwhile. Answer that order, not the error its effects cause here.
        existing = order_by_token(member_id=member.pk, client_token=client_token)
        if existing is not None:
            return _replayed(existing, request_hash=request_hash), False
        raise
    held = stock_held_skus(inputs.discounts)
    lines = [
        OrderLine(
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
    ]
    log = OrderStatusLog(
        from_status="",
        to_status=OrderStatus.PENDING_PAYMENT,
        actor=member_actor(member),
        note="提交订单",
        created_at=now,
    )
    try:
        order = _order_insert(
            member=member,
            client_token=client_token,
            request_hash=request_hash,
            checkout=checkout,
            quote=quote,
            note=note,
            now=now,
            timeout_s=_payment_timeout_s(inputs),
            lines=lines,
            log=log,
        )
    except _CreatedMeanwhile as meanwhile:  # the same, found by the insert
        return _replayed(meanwhile.existing, request_hash=request_hash), False
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
    safety net. Eager Celery (tests, the embedded mode) runs the order's own task instead.
    The tasks are queued by name (orders.task_names)."""
    if app.conf.task_always_eager:
        expire = app.signature(task_names.ORDER_EXPIRE, args=(order_id,))
        transaction.on_commit(lambda: expire.apply_async(countdown=countdown))
        return
    key = ("orders:expiry", round(countdown))  # orders of one payment timeout share a run

    def expire_soon() -> None:  # runs EXPIRY_COALESCE_SECONDS or more after this deadline
        app.signature(task_names.ORDERS_EXPIRE_DUE).apply_async(
            countdown=countdown + 2 * EXPIRY_COALESCE_SECONDS
        )

    transaction.on_commit(lambda: publish_at_most_every(key, EXPIRY_COALESCE_SECONDS, expire_soon))


def _member_lock_and_replay(*, member: Member, client_token: str) -> tuple[int, str, str] | None:
    """Lock the member row (serialises one member's order creations: one order per key), set
    member's balance and points as they are under the lock (pricing caps with them), and return
    (id, no, request_hash) of the order already created with client_token, if any. One plain
    statement: every order runs it. Its read of the orders is from before any wait for the
    lock (one snapshot per statement): order_create looks again before it answers an error or
    when the insert meets the key.

    Raises: Member.DoesNotExist."""
    row = member_lock_and_order_by_token(member_id=member.pk, client_token=client_token)
    if row is None:
        raise Member.DoesNotExist(f"member {member.pk}")
    member.balance_fen, member.points_balance, order_id, no, request_hash = row
    return None if order_id is None else (order_id, no, request_hash)


class _CreatedMeanwhile(Exception):  # a signal within this module, not an error
    def __init__(self, existing: tuple[int, str, str]) -> None:
        self.existing = existing


def _replayed(existing: tuple[int, str, str], *, request_hash: str) -> Order:
    """The order a repeated Idempotency-Key created. Raises: IdempotencyKeyReused (another
    request body)."""
    order_id, no, existing_hash = existing
    if existing_hash != request_hash:
        raise IdempotencyKeyReused(order_no=no)
    return Order.objects.get(pk=order_id)


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
    lines: list[OrderLine],
    log: OrderStatusLog,
) -> Order:
    """The new order, inserted with its lines and log (orders.sql) under a fresh
    number. Raises: _CreatedMeanwhile, IntegrityError (no free number after some attempts)."""
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
        if order_rows_insert(order, lines, log):
            return order
        # A colliding order no or open pickup code: try another. Or the client token: a
        # concurrent request with this key committed its order while this one waited for the
        # member lock (the lock statement read the orders as they were before the wait).
        existing = order_by_token(member_id=member.pk, client_token=client_token)
        if existing is not None:
            raise _CreatedMeanwhile(existing)
        if attempt == ORDER_NO_ATTEMPTS - 1:
            raise IntegrityError(f"no free order no after {ORDER_NO_ATTEMPTS} attempts")
    raise AssertionError("unreachable")
