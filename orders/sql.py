"""The orders app's hand-written SQL, parameterised, table names from the models' _meta. The
orders app's selectors and services call these functions; nothing else runs SQL on its tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache

from django.db import connection

from .models import Order, OrderLine


def _table(model: type) -> str:
    return connection.ops.quote_name(model._meta.db_table)


# --- lifecycle journeys (read by shop.lifecycle.journeys) ---
@cache  # built once, after the app registry is ready
def _order_lines_replenish_due_sql() -> str:
    orders, lines = _table(Order), _table(OrderLine)
    # A rule matches a line by its product; of several, the lowest priority, then the lowest
    # rule id wins (DISTINCT ON keeps the first). The constant received_at bounds (from the
    # rules' shortest and longest cycles) let the planner cut the orders by received_at before
    # the per-rule window.
    return f"""
SELECT DISTINCT ON (l.id) l.id, o.member_id, r.id, l.product_id, l.title
FROM {lines} l
JOIN {orders} o ON o.id = l.order_id
JOIN unnest(%(rule_ids)s::bigint[], %(rule_products)s::bigint[], %(rule_cycles)s::int[],
            %(rule_priorities)s::int[]) AS r(id, product_id, cycle_days, priority)
  ON r.product_id = l.product_id
WHERE l.id > %(after)s
  AND o.status = ANY(%(received)s)
  AND o.received_at > %(oldest)s AND o.received_at <= %(newest)s
  AND o.received_at <= %(now)s - make_interval(days => r.cycle_days)
  AND o.received_at > %(now)s - make_interval(days => r.cycle_days + %(lookback)s)
  AND l.refunded_quantity < l.quantity
  AND NOT EXISTS (
      SELECT 1 FROM {orders} o2
      WHERE o2.member_id = o.member_id AND o2.status = ANY(%(paid)s) AND o2.paid_at > o.paid_at
        AND EXISTS (
            SELECT 1 FROM {lines} l2
            WHERE l2.order_id = o2.id AND l2.product_id = l.product_id))
ORDER BY l.id, r.priority, r.id
LIMIT %(limit)s"""  # noqa: S608 - table names from the models


def order_lines_replenish_due(
    *,
    rules: Sequence[tuple[int, int, int, int]],
    received_statuses: Sequence[str],
    paid_statuses: Sequence[str],
    now: datetime,
    lookback_days: int,
    oldest: datetime,
    newest: datetime,
    after_line_id: int,
    limit: int,
) -> list[tuple[int, int, int, int, str]]:
    """(line id, member id, rule id, product id, title) of the lines due for a replenish reminder
    under `rules` ((rule id, product id, cycle days, priority) each), after `after_line_id` in line
    id order: received between cycle_days and cycle_days + lookback_days ago, not all refunded,
    not bought again since by the member."""
    with connection.cursor() as cursor:
        cursor.execute(
            _order_lines_replenish_due_sql(),
            {
                "rule_ids": [rule[0] for rule in rules],
                "rule_products": [rule[1] for rule in rules],
                "rule_cycles": [rule[2] for rule in rules],
                "rule_priorities": [rule[3] for rule in rules],
                "received": list(received_statuses),
                "paid": list(paid_statuses),
                "now": now,
                "lookback": lookback_days,
                "oldest": oldest,
                "newest": newest,
                "after": after_line_id,
                "limit": limit,
            },
        )
        return cursor.fetchall()


@cache
def _orders_last_paid_before_sql() -> str:
    return f"""
WITH last AS (
    SELECT DISTINCT ON (o.member_id) o.member_id, o.id AS order_id, o.paid_at
    FROM {_table(Order)} o
    WHERE o.member_id > %(lo)s AND o.member_id <= %(hi)s
      AND o.status = ANY(%(paid)s) AND o.paid_at IS NOT NULL
    ORDER BY o.member_id, o.paid_at DESC, o.id DESC
)
SELECT member_id, order_id FROM last
WHERE paid_at < %(before)s
ORDER BY member_id"""  # noqa: S608 - table names from the models


def orders_last_paid_before(
    *,
    member_id_after: int,
    member_id_upto: int,
    paid_statuses: Sequence[str],
    before: datetime,
) -> list[tuple[int, int]]:
    """(member id, order id) of the members in (member_id_after, member_id_upto] whose last paid
    order was paid before `before`, with that order."""
    with connection.cursor() as cursor:
        cursor.execute(
            _orders_last_paid_before_sql(),
            {
                "lo": member_id_after,
                "hi": member_id_upto,
                "paid": list(paid_statuses),
                "before": before,
            },
        )
        return cursor.fetchall()


# --- recommendations ---
@cache
def _products_bought_together_sql() -> str:
    orders, lines = _table(Order), _table(OrderLine)
    # The member's products (score NULL), then the others' scores.
    return f"""
WITH mine AS (
    SELECT DISTINCT l.product_id
    FROM {orders} o JOIN {lines} l ON l.order_id = o.id
    WHERE o.member_id = %(member)s AND o.status = ANY(%(paid)s)
), together AS (
    SELECT l2.product_id, count(DISTINCT o1.member_id) AS score
    FROM {lines} l1
    JOIN {orders} o1 ON o1.id = l1.order_id
    JOIN {lines} l2 ON l2.order_id = l1.order_id AND l2.product_id <> l1.product_id
    WHERE l1.product_id IN (SELECT product_id FROM mine)
      AND l2.product_id NOT IN (SELECT product_id FROM mine)
      AND o1.member_id <> %(member)s AND o1.status = ANY(%(paid)s)
    GROUP BY l2.product_id
)
SELECT product_id, NULL::bigint FROM mine
UNION ALL
SELECT product_id, score FROM together"""  # noqa: S608 - table names from the models


def products_bought_together(
    *, member_id: int, paid_statuses: Sequence[str]
) -> tuple[list[int], dict[int, int]]:
    """(the products the member bought in paid orders, {other product: how many other members
    bought it in one paid order with one of those})."""
    with connection.cursor() as cursor:
        cursor.execute(
            _products_bought_together_sql(), {"member": member_id, "paid": list(paid_statuses)}
        )
        rows = cursor.fetchall()
    mine = [product_id for product_id, score in rows if score is None]
    return mine, {product_id: score for product_id, score in rows if score is not None}
