"""Stock moves. The only code that changes `Sku.stock`; every change writes a StockLog row.

A move is one statement: a conditional UPDATE (`stock >= qty` for a deduction) of each SKU and,
in the same statement, the StockLog rows of the SKUs it changed. So two buyers cannot both take
the last unit, stock never goes below zero, and no change goes unlogged. A move that sells a SKU
out or brings it back bumps the catalogue cache version (lists show in_stock); other moves do
not, so a busy SKU does not flush the cache; every move drops this process's copy of stock levels
(catalog.cache.catalog_stock_levels_cached) so the detail shows it here at once.

Moves of several SKUs (stock_reserve, stock_release) run inside the caller's transaction and
lock the rows in SKU id order first (in the same statement), so concurrent orders lock in one
order and cannot deadlock. The statement is catalog.sql.stock_move.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from mall.errors import OutOfStock

from . import sql
from .cache import catalog_cache_bump, catalog_stock_forget_local
from .models import Sku, StockLog


@dataclass(frozen=True)
class StockLine:
    sku_id: int
    qty: int


def _stock_move(
    changes: dict[int, int], *, reason: str, reference: str, operator: str
) -> dict[int, int]:
    """Apply {sku_id: change} and log it (catalog.sql.stock_move); returns {sku_id: stock after}
    of the SKUs changed."""
    after = sql.stock_move(
        changes=changes, reason=reason, reference=reference, operator=operator, now=timezone.now()
    )
    catalog_stock_forget_local()
    return after


def _merged(lines: Iterable[StockLine]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for line in lines:
        merged[line.sku_id] = merged.get(line.sku_id, 0) + line.qty
    if any(qty <= 0 for qty in merged.values()):
        raise ValueError("qty must be positive")
    return dict(sorted(merged.items()))


def stock_deduct(
    *, sku_id: int, qty: int, reason: str, reference: str = "", operator: str = ""
) -> int:
    """Take qty units; returns the stock left.

    Raises: OutOfStock when fewer than qty are left (nothing changes).
    """
    if qty <= 0:
        raise ValueError("qty must be positive")
    after = _stock_move({sku_id: -qty}, reason=reason, reference=reference, operator=operator)
    if sku_id not in after:
        raise OutOfStock(sku_id=sku_id, requested=qty)
    if after[sku_id] == 0:
        catalog_cache_bump()  # sold out: cached lists show in_stock
    return after[sku_id]


def stock_add(
    *, sku_id: int, qty: int, reason: str, reference: str = "", operator: str = ""
) -> int:
    """Return qty units (a cancelled order, a refund restock); returns the new stock."""
    if qty <= 0:
        raise ValueError("qty must be positive")
    after = _stock_move({sku_id: qty}, reason=reason, reference=reference, operator=operator)
    if sku_id not in after:
        raise Sku.DoesNotExist(sku_id)
    if after[sku_id] == qty:
        catalog_cache_bump()  # back in stock: cached lists show in_stock
    return after[sku_id]


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
        catalog_stock_forget_local()
    if (before == 0) != (stock == 0):
        catalog_cache_bump()  # sold out or back in stock: cached lists show in_stock
    return stock


def stock_reserve(*, lines: Iterable[StockLine], reference: str) -> None:
    """Take the stock of an order's lines, all or nothing.

    Must run inside the caller's transaction (a failure rolls the whole move back with it).
    Raises: OutOfStock (for the first SKU, by id, that has fewer units than asked).
    """
    if not connection.in_atomic_block:
        raise RuntimeError("stock_reserve must run inside transaction.atomic()")
    merged = _merged(lines)
    if not merged:
        return
    after = _stock_move(
        {sku_id: -qty for sku_id, qty in merged.items()},
        reason=StockLog.Reason.ORDER_RESERVE,
        reference=reference,
        operator="",
    )
    for sku_id, qty in merged.items():
        if sku_id not in after:
            raise OutOfStock(sku_id=sku_id, requested=qty)
    if 0 in after.values():
        catalog_cache_bump()  # sold out: cached lists show in_stock


def stock_release(
    *, lines: Iterable[StockLine], reference: str, reason: str = StockLog.Reason.ORDER_RELEASE
) -> None:
    """Give back the stock of cancelled or refunded lines (the caller guarantees once).

    Runs inside the caller's transaction (the row locks last until its end).
    Raises: Sku.DoesNotExist.
    """
    merged = _merged(lines)
    if not merged:
        return
    after = _stock_move(merged, reason=reason, reference=reference, operator="")
    for sku_id in merged:
        if sku_id not in after:
            raise Sku.DoesNotExist(sku_id)
    if any(after[sku_id] == qty for sku_id, qty in merged.items()):
        catalog_cache_bump()  # back in stock: cached lists show in_stock
