"""Lifecycle journeys that depend on orders: replenish reminders and win-back coupons, run by a
beat task (shop.tasks.journeys_run_task).

The candidates come from orders' selectors, the rules from marketing's; marketing records the
sends and issues the coupons (marketing.services.journeys.journey_sends_deliver). Each run walks
the candidates in keyset batches (constant memory), one transaction per batch; a send's unique
key (per order line, per dormancy period) drops what was sent already, so a run repeated, or two
runs at once, send once.

- Replenish: a line of a received order whose product (or category, with ancestors) has an active
  rule, received between `cycle_days` and `cycle_days + JOURNEY_LOOKBACK_DAYS` days ago, not
  refunded, and not rebought (no later paid order of the member has that product). A category
  rule is first resolved into its products (catalog's category subtree), so orders matches by
  product only.
- Win-back: an active member whose last paid order is more than WINBACK_DORMANT_DAYS old gets
  the WINBACK_COUPON_TEMPLATE_ID coupon once per dormancy (key: that last order's id).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog.selectors import product_ids_by_category_subtree
from marketing.models import JourneySend
from marketing.selectors_journeys import ReplenishRuleData, replenish_rules_active
from marketing.services.journeys import JourneyCandidate, journey_sends_deliver
from members.selectors import member_ids_active
from orders.selectors import (
    members_last_paid_order_before,
    order_lines_due_for_replenish,
    order_member_id_max,
)

# A product rule wins over a category rule for the same line (the lower priority wins).
PRODUCT_RULE_PRIORITY, CATEGORY_RULE_PRIORITY = 0, 1


def _replenish_rules_by_product(
    rules: list[ReplenishRuleData],
) -> list[tuple[int, int, int, int]]:
    """(rule id, product id, cycle days, priority) of each product a rule covers: its product,
    or every product of its category and the category's descendants. One query."""
    category_products = product_ids_by_category_subtree(
        category_ids={rule.category_id for rule in rules if rule.category_id is not None}
    )
    by_product = []
    for rule in rules:
        if rule.product_id is not None:
            by_product.append((rule.id, rule.product_id, rule.cycle_days, PRODUCT_RULE_PRIORITY))
        else:
            by_product.extend(
                (rule.id, product_id, rule.cycle_days, CATEGORY_RULE_PRIORITY)
                for product_id in category_products.get(rule.category_id, ())
            )
    return by_product


def replenish_run(*, now: datetime | None = None, batch_size: int | None = None) -> dict[str, int]:
    """Send the due replenish reminders; returns counts. Safe to run twice or concurrently."""
    now = now or timezone.now()
    batch_size = batch_size or settings.JOURNEY_BATCH_SIZE
    rules = {rule.id: rule for rule in replenish_rules_active()}
    if not rules:
        return {"scanned": 0, "sent": 0}
    rule_keys = _replenish_rules_by_product(list(rules.values()))
    after, scanned, sent = 0, 0, 0
    while True:
        with transaction.atomic():
            due = order_lines_due_for_replenish(
                rules=rule_keys,
                now=now,
                lookback_days=settings.JOURNEY_LOOKBACK_DAYS,
                after_line_id=after,
                limit=batch_size,
            )
            if not due:
                break
            candidates = [
                JourneyCandidate(
                    member_id=line.member_id,
                    rule_id=line.rule_id,
                    order_line_id=line.line_id,
                    period_key="",
                    coupon_template_id=rules[line.rule_id].coupon_template_id,
                    send_message=rules[line.rule_id].send_message,
                    product_id=line.product_id,
                    title=line.title,
                )
                for line in due
            ]
            sent += journey_sends_deliver(
                kind=JourneySend.Kind.REPLENISH, candidates=candidates, now=now
            )
        scanned += len(due)
        after = due[-1].line_id
        if len(due) < batch_size:
            break
    return {"scanned": scanned, "sent": sent}


def winback_run(*, now: datetime | None = None, batch_size: int | None = None) -> dict[str, int]:
    """Send win-back coupons to dormant members (once per dormancy); returns counts. Walks the
    member ids in ranges of `batch_size`, one transaction each."""
    now = now or timezone.now()
    template_id = settings.WINBACK_COUPON_TEMPLATE_ID
    if not template_id:
        return {"sent": 0}
    batch_size = batch_size or settings.JOURNEY_BATCH_SIZE * 10
    before = now - timedelta(days=settings.WINBACK_DORMANT_DAYS)
    max_id = order_member_id_max()
    lo, sent = 0, 0
    while lo < max_id:
        hi = lo + batch_size
        with transaction.atomic():
            rows = members_last_paid_order_before(
                member_id_after=lo, member_id_upto=hi, before=before
            )
            if rows:  # disabled members get nothing
                active = member_ids_active(member_ids=[member_id for member_id, _ in rows])
                rows = [row for row in rows if row[0] in active]
            if rows:
                candidates = [
                    JourneyCandidate(
                        member_id=member_id,
                        rule_id=None,
                        order_line_id=None,
                        period_key=str(order_id),
                        coupon_template_id=template_id,
                        send_message=True,
                    )
                    for member_id, order_id in rows
                ]
                sent += journey_sends_deliver(
                    kind=JourneySend.Kind.WINBACK, candidates=candidates, now=now
                )
        lo = hi
    return {"sent": sent}
