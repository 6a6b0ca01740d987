"""Order points vest once their order is past the after-sales window."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from members.points import points_lots_vest, points_pending_lots
from orders.selectors import order_nos_completed


def points_vest_due(*, now: datetime | None = None, batch_size: int | None = None) -> int:
    """Vest the pending points of completed orders (the orders sweep completes a received order
    AFTER_SALE_DAYS later), batched by lot id; safe to run twice. Returns the lots vested."""
    batch_size = batch_size or settings.POINTS_BATCH_SIZE
    vested, after_id = 0, 0
    while batch := points_pending_lots(after_id=after_id, limit=batch_size):
        completed = order_nos_completed(order_nos=[no for _, no in batch if no])
        vested += points_lots_vest(lot_ids=[pk for pk, no in batch if no in completed], now=now)
        after_id = batch[-1][0]
    return vested
