"""Referral rewards: the invitee's first paid order, past the after-sales window, rewards the
referral; refunded in full (closed), it cancels it."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from members.referral import referral_cancel, referral_pending_page, referral_reward
from orders.models import OrderStatus
from orders.selectors import member_first_paid_orders


def referrals_settle(*, now: datetime | None = None, batch_size: int | None = None) -> dict:
    """Reward (or cancel) each pending referral whose invitee's first paid order is past the
    after-sales window (or fully refunded); keyset batches, two queries each plus the writes.
    Safe to run twice: referral_reward / referral_cancel move a pending row once."""
    now = now or timezone.now()
    batch_size = batch_size or settings.REFERRAL_BATCH_SIZE
    window_end = now - timedelta(days=settings.AFTER_SALE_DAYS)
    after, counts = 0, {"rewarded": 0, "cancelled": 0, "waiting": 0}
    while page := referral_pending_page(after_id=after, limit=batch_size):
        after = page[-1][0]
        first_orders = member_first_paid_orders(member_ids=[invitee for _, invitee in page])
        for member_id, order in first_orders.items():
            if order.status == OrderStatus.CLOSED:
                counts["cancelled"] += referral_cancel(invitee_id=member_id, order_no=order.no)
            elif order.status == OrderStatus.COMPLETED or (
                order.status == OrderStatus.RECEIVED
                and order.received_at
                and order.received_at <= window_end
            ):
                counts["rewarded"] += referral_reward(invitee_id=member_id, order_no=order.no)
            else:
                counts["waiting"] += 1
        if len(page) < batch_size:
            break
    return counts
