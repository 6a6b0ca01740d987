"""Beat tasks of the lifecycle journeys and of referral rewards.

Referral rewards wait for the invitee's first paid order to pass the after-sales window. Orders
are above members and marketing, so this task (an interface, allowed to read any app) finds the
first orders with the orders models and calls members.referral's services for each.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import OperationalError, connection
from django.utils import timezone

from members.referral import referral_cancel, referral_pending_page, referral_reward

from ..services.journeys import birthday_run, replenish_run, winback_run

logger = logging.getLogger(__name__)


def referrals_settle(*, now: datetime | None = None, batch_size: int | None = None) -> dict:
    """Reward (or cancel) each pending referral whose invitee's first paid order is past the
    after-sales window (or fully refunded); keyset batches, two queries each plus the writes.
    Safe to run twice: referral_reward / referral_cancel move a pending row once."""
    from orders.models import Order, OrderStatus

    now = now or timezone.now()
    batch_size = batch_size or settings.REFERRAL_BATCH_SIZE
    window_end = now - timedelta(days=settings.AFTER_SALE_DAYS)
    after, counts = 0, {"rewarded": 0, "cancelled": 0, "waiting": 0}
    while page := referral_pending_page(after_id=after, limit=batch_size):
        after = page[-1][0]
        invitee_ids = [invitee_id for _, invitee_id in page]
        orders = Order.objects.filter(member_id__in=invitee_ids, paid_at__isnull=False).order_by(
            "member_id", "paid_at", "id"
        )
        if connection.vendor == "postgresql":  # DISTINCT ON; elsewhere the first row is kept below
            orders = orders.distinct("member_id")
        first_orders = {}
        for row in orders.values_list("member_id", "no", "status", "received_at"):
            first_orders.setdefault(row[0], row)
        for member_id, no, status, received_at in first_orders.values():
            if status == OrderStatus.CLOSED:
                counts["cancelled"] += referral_cancel(invitee_id=member_id, order_no=no)
            elif status == OrderStatus.COMPLETED or (
                status == OrderStatus.RECEIVED and received_at and received_at <= window_end
            ):
                counts["rewarded"] += referral_reward(invitee_id=member_id, order_no=no)
            else:
                counts["waiting"] += 1
        if len(page) < batch_size:
            break
    return counts


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def referrals_reward_task() -> dict:
    return referrals_settle()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def journeys_run_task() -> dict:
    counts = {"replenish": replenish_run(), "winback": winback_run(), "birthday": birthday_run()}
    logger.info("journeys: %s", counts)
    return counts
