"""What an order's payment changes in other apps, applied exactly once per order.

The effects: the member's pending points, growth and level, the first_order task (members), the
coupon used, the campaigns' figures, 消费返券 (marketing), and what a promotion holds (flash
units, a group-buy seat, a points-mall exchange).

When they run: an order with a promotion (`promotion_kind`) gets them in the transaction that
pays it (its seat or units must be settled with the payment). Any other order is paid by the
notification's single statement (settle.py) and gets them from the follow-up task queued on
commit, or from the sweep (beat) when that task was lost. `Order.paid_effects_at` is claimed by a
conditional UPDATE (orders' `order_paid_effects_claim`): whoever claims it applies the effects,
in the claim's transaction, so they happen once. A refund claims it first too (`order_paid_effects_apply` in its transaction), so
what it takes back was given.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from marketing.services.campaigns import campaign_usages_mark_paid
from marketing.services.coupons import coupon_mark_used_for_order, coupons_grant_on_spend
from marketing.services.flash_sale import KIND as FLASH_KIND
from marketing.services.flash_sale import flash_mark_paid
from marketing.services.group_buy import GROUP_BUY_KINDS, group_member_paid
from marketing.services.points_mall import PROMOTION_KIND as POINTS_MALL_KIND
from marketing.services.points_mall import points_mall_order_paid
from members.levels import member_order_paid_locked
from orders.pricing import breakdown_benefits
from orders.services import order_paid_effects_claim

from .queue import group_buy_expire_queue, group_buy_order_refund_queue


def order_paid_effects_apply(*, order_id: int, now: datetime | None = None) -> bool:
    """Apply the paid order's effects unless they were applied; returns whether this call did.
    Safe to call any number of times and concurrently (the claim's row lock orders the callers).
    A hook runs only when the order can have something for it: its promotion, the coupon and
    campaign discounts (or gift lines) of its breakdown; each stays idempotent on its own."""
    with transaction.atomic():
        paid = order_paid_effects_claim(order_id=order_id, now=now or timezone.now())
        if paid is None:
            return False
        kind = paid["promotion_kind"]
        if kind in GROUP_BUY_KINDS:
            group_buy_order_paid_locked(order_id=order_id)
        elif kind == FLASH_KIND:
            flash_mark_paid(order_id=order_id)
        elif kind == POINTS_MALL_KIND:
            points_mall_order_paid(order_id=order_id)
        member_order_paid_locked(  # points (pending), growth and level, the first_order task
            member_id=paid["member_id"], order_no=paid["no"], paid_fen=paid["payable_fen"]
        )
        uses_coupon, uses_campaign = breakdown_benefits(paid["breakdown"])
        if uses_coupon:
            coupon_mark_used_for_order(order_id=order_id)
        if uses_campaign:
            campaign_usages_mark_paid(order_id=order_id)
        coupons_grant_on_spend(
            order_id=order_id, member_id=paid["member_id"], paid_fen=paid["payable_fen"]
        )
        return True


def group_buy_order_paid_locked(*, order_id: int, now: datetime | None = None) -> None:
    """In the order's pending → paid transaction: the group's progress (seat paid, the leader's
    payment starting the clock, forming when full). Queues, on commit, the group's expiry
    countdown when the leader paid, and the refund of a payment that came after its group
    failed (a payment is never dropped)."""
    outcome = group_member_paid(order_id=order_id, now=now)
    if outcome is None:
        return
    if outcome.clock_started and outcome.expires_at is not None:
        group_buy_expire_queue(outcome.group_id, eta=outcome.expires_at)
    if outcome.must_refund:
        group_buy_order_refund_queue(order_id)
