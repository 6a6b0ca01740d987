"""拼团 across apps: the automatic refunds of a failed group (a group's progress when its orders
are paid is one of the payment's effects, paid_effects.py) (a use case spanning marketing, orders and payments lives here, DESIGN.md).

Each paid order of a failed group is refunded in full through `refund_request` with the refund
number "G<order no>": the expiry task, the beat sweep and a late joiner's payment may all ask
for it, and the refund service (under the order's lock) answers the first refund to each, so
every member is refunded exactly once. The goods were never shipped (a group order cannot ship
before its group forms), so the stock goes back when the refund succeeds.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from mall.errors import RefundExceedsPaid, RefundNotAllowed
from marketing.services.group_buy import group_expire, group_member_refunded, groups_due_ids
from orders.models import OrderStatus
from orders.selectors import order_no_get, order_status_get

from ..models import Refund
from .refunds import refund_request

logger = logging.getLogger(__name__)

GROUP_FAILED_REFUND_REASON = "拼团未成团，自动退款"


def group_buy_refund_no(order_no: str) -> str:
    return f"G{order_no}"


def group_buy_order_refund(*, order_id: int) -> Refund | None:
    """Refund a paid order of a failed group in full, stock back once the refund succeeds.
    Idempotent (refund number "G<order no>"); None when there is nothing left to refund (the
    merchant refunded it already)."""
    order_no = order_no_get(order_id=order_id)
    if order_no is None:
        return None
    try:
        refund = refund_request(
            order_id=order_id,
            lines=None,
            reason=GROUP_FAILED_REFUND_REASON,
            requested_by="system",
            out_refund_no=group_buy_refund_no(order_no),
            restock=True,
        )
    except RefundExceedsPaid:
        # Every line refunded or being refunded by other means (the merchant was faster).
        group_member_refunded(order_id=order_id)
        return None
    except RefundNotAllowed as exc:
        status = order_status_get(order_id=order_id)
        if status == OrderStatus.CLOSED:  # fully refunded already
            group_member_refunded(order_id=order_id)
        else:  # left paid: the sweep asks again, a person should look
            logger.error("group order %s (%s) cannot be refunded: %r", order_no, status, exc)
        return None
    group_member_refunded(order_id=order_id)
    return refund


def group_buy_expire(*, group_id: int, now: datetime | None = None) -> int:
    """A group past its deadline fails (or forms with virtual members when its campaign says
    so), then each of its paid orders is refunded in full. Returns the number of refunds asked
    for by this call (repeats of earlier ones included). Safe to run twice and concurrently
    with payments of the group's orders."""
    order_ids = group_expire(group_id=group_id, now=now or timezone.now())
    refunded = 0
    for order_id in order_ids:
        refunded += group_buy_order_refund(order_id=order_id) is not None
    return refunded


def group_buys_expire(
    *, now: datetime | None = None, batch_size: int | None = None
) -> dict[str, int]:
    """The beat sweep (every minute): one bounded batch of overdue forming groups, and of failed
    groups with a paid order whose refund was not asked for yet. `has_more`: a full batch."""
    now = now or timezone.now()
    limit = batch_size or settings.GROUP_BUY_EXPIRE_BATCH_SIZE
    ids = groups_due_ids(now=now, limit=limit)
    refunds = sum(group_buy_expire(group_id=group_id, now=now) for group_id in ids)
    return {"groups": len(ids), "refunds": refunds, "has_more": int(len(ids) >= limit)}
