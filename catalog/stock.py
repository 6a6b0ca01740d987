"""Stock moves. The only code that changes `Sku.stock`; every change writes a StockLog row.

Each move is one conditional UPDATE … RETURNING, so two buyers cannot both take the last unit and
stock never goes below zero. A move that sells a SKU out or brings it back bumps the catalogue
cache version (lists show in_stock); other moves do not, so a busy SKU does not flush the cache
(the product detail reads fresh stock levels on every request).

Callers that move several SKUs run inside their own transaction and pass the lines sorted by
SKU id (stock_reserve does this), so concurrent orders lock rows in one order and cannot deadlock.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, transaction

from mall.errors import OutOfStock

from .cache import catalog_cache_bump
from .models import Sku, StockLog


@dataclass(frozen=True)
class StockLine:
    sku_id: int
    qty: int


def _update_returning(sql: str, params: list[int]) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def stock_deduct(
    *, sku_id: int, qty: int, reason: str, reference: str = "", operator: str = ""
) -> int:
    """Take qty units; returns the stock left.

    Raises: OutOfStock when fewer than qty are left (nothing changes).
    """
    if qty <= 0:
        raise ValueError("qty must be positive")
    table = Sku._meta.db_table
    after = _update_returning(
        f"UPDATE {table} SET stock = stock - %s WHERE id = %s AND stock >= %s RETURNING stock",  # noqa: S608
        [qty, sku_id, qty],
    )
    if after is None:
        raise OutOfStock(sku_id=sku_id, requested=qty)
    StockLog.objects.create(
        sku_id=sku_id,
        change=-qty,
        stock_before=after + qty,
        stock_after=after,
        reason=reason,
        reference=reference,
        operator=operator,
    )
    if after == 0:
        catalog_cache_bump()  # sold out: cached lists show in_stock
    return after


def stock_add(
    *, sku_id: int, qty: int, reason: str, reference: str = "", operator: str = ""
) -> int:
    """Return qty units (a cancelled order, a refund restock); returns the new stock."""
    if qty <= 0:
        raise ValueError("qty must be positive")
    table = Sku._meta.db_table
    after = _update_returning(
        f"UPDATE {table} SET stock = stock + %s WHERE id = %s RETURNING stock",  # noqa: S608
        [qty, sku_id],
    )
    if after is None:
        raise Sku.DoesNotExist(sku_id)
    StockLog.objects.create(
        sku_id=sku_id,
        change=qty,
        stock_before=after - qty,
        stock_after=after,
        reason=reason,
        reference=reference,
        operator=operator,
    )
    if after == qty:
        catalog_cache_bump()  # back in stock: cached lists show in_stock
    return after


def stock_set(
    *, sku_id: int, stock: int, reason: str, reference: str = "", operator: str = ""
) -> int:
    """Set an absolute stock level (a stock count in the admin, an import); logs the difference."""
    if stock < 0:
        raise ValueError("stock cannot be negative")
    with transaction.atomic():
        sku = Sku.objects.select_for_update().only("stock").get(pk=sku_id)
        before = sku.stock
        if before == stock:
            return stock
        Sku.objects.filter(pk=sku_id).update(stock=stock)
        StockLog.objects.create(
            sku_id=sku_id,
            change=stock - before,
            stock_before=before,
            stock_after=stock,
            reason=reason,
            reference=reference,
            operator=operator,
        )
    if (before == 0) != (stock == 0):
        catalog_cache_bump()  # sold out or back in stock: cached lists show in_stock
    return stock


def stock_reserve(*, lines: Iterable[StockLine], reference: str) -> None:
    """Take the stock of an order's lines, all or nothing.

    Must run inside the caller's transaction (a failure midway rolls the earlier lines back).
    Raises: OutOfStock.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("stock_reserve must run inside transaction.atomic()")
    merged: dict[int, int] = {}
    for line in lines:
        merged[line.sku_id] = merged.get(line.sku_id, 0) + line.qty
    for sku_id in sorted(merged):  # one lock order for every transaction: no deadlocks
        stock_deduct(
            sku_id=sku_id,
            qty=merged[sku_id],
            reason=StockLog.Reason.ORDER_RESERVE,
            reference=reference,
        )


def stock_release(
    *, lines: Iterable[StockLine], reference: str, reason: str = StockLog.Reason.ORDER_RELEASE
) -> None:
    """Give back the stock of cancelled or refunded lines (the caller guarantees once)."""
    merged: dict[int, int] = {}
    for line in lines:
        merged[line.sku_id] = merged.get(line.sku_id, 0) + line.qty
    for sku_id in sorted(merged):
        stock_add(sku_id=sku_id, qty=merged[sku_id], reason=reason, reference=reference)
