"""Recommendations after the member's 2nd paid order: items bought together (in one order) by
other members with what this member bought, then items of the same categories, on shelf only,
never what the member already bought.

Orders are a higher app: this reads their tables (`orders_order`, `orders_orderline`) with raw
SQL, read-only, and imports nothing of orders. Three queries whatever the limit: the member's
paid orders count, the ranked product ids, the products.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from catalog.models import Product

PAID_STATUSES = ["paid", "shipped", "received", "completed"]
MIN_PAID_ORDERS = 2

REASON_BOUGHT_TOGETHER = "bought_together"
REASON_SAME_CATEGORY = "same_category"
REASON_POPULAR = "popular"

_RANKED_SQL = """
WITH mine AS (
    SELECT DISTINCT l.product_id
    FROM orders_order o JOIN orders_orderline l ON l.order_id = o.id
    WHERE o.member_id = %(member)s AND o.status = ANY(%(paid)s)
), together AS (
    SELECT l2.product_id, count(DISTINCT o1.member_id) AS score
    FROM orders_orderline l1
    JOIN orders_order o1 ON o1.id = l1.order_id
    JOIN orders_orderline l2 ON l2.order_id = l1.order_id AND l2.product_id <> l1.product_id
    WHERE l1.product_id IN (SELECT product_id FROM mine)
      AND o1.member_id <> %(member)s AND o1.status = ANY(%(paid)s)
    GROUP BY l2.product_id
), ranked AS (
    SELECT t.product_id, 0 AS tier, t.score, p.sales_count FROM together t
    JOIN catalog_product p ON p.id = t.product_id
    UNION ALL
    SELECT p.id, 1, 0, p.sales_count FROM catalog_product p
    WHERE p.category_id IN (
        SELECT DISTINCT p2.category_id FROM catalog_product p2
        WHERE p2.id IN (SELECT product_id FROM mine))
)
SELECT r.product_id, min(r.tier) AS tier
FROM ranked r JOIN catalog_product p ON p.id = r.product_id AND p.is_on_shelf
WHERE r.product_id NOT IN (SELECT product_id FROM mine)
GROUP BY r.product_id
ORDER BY min(r.tier), max(r.score) DESC, max(r.sales_count) DESC, r.product_id
LIMIT %(limit)s
"""


# SQLite (the embedded mode) has no arrays: the same statements with the statuses inlined
# (our constants, not input). PostgreSQL keeps the statements above.
_PAID_IN = "IN (" + ", ".join(f"'{status}'" for status in PAID_STATUSES) + ")"
_RANKED_SQL_PORTABLE = _RANKED_SQL.replace("= ANY(%(paid)s)", _PAID_IN)
_COUNT_SQL = "SELECT count(*) FROM orders_order WHERE member_id = %s AND status = ANY(%s)"
_COUNT_SQL_PORTABLE = _COUNT_SQL.replace("= ANY(%s)", _PAID_IN)


@dataclass(frozen=True)
class Recommendation:
    product: Product
    reason: str


@dataclass(frozen=True)
class Recommendations:
    # "related": personalised (≥ 2 paid orders); "popular": not enough orders yet, best sellers.
    basis: str
    items: list[Recommendation]


def _paid_orders_count(member_id: int) -> int:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_COUNT_SQL, [member_id, PAID_STATUSES])
        else:
            cursor.execute(_COUNT_SQL_PORTABLE, [member_id])
        return int(cursor.fetchone()[0])


def recommendations_for_member(*, member_id: int, limit: int | None = None) -> Recommendations:
    limit = limit or settings.RECOMMENDATIONS_LIMIT
    if _paid_orders_count(member_id) < MIN_PAID_ORDERS:
        popular = list(
            Product.objects.filter(is_on_shelf=True).order_by("-sales_count", "-id")[:limit]
        )
        return Recommendations(
            basis="popular", items=[Recommendation(p, REASON_POPULAR) for p in popular]
        )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            params = {"member": member_id, "paid": PAID_STATUSES, "limit": limit}
            cursor.execute(_RANKED_SQL, params)
        else:
            cursor.execute(_RANKED_SQL_PORTABLE, {"member": member_id, "limit": limit})
        ranked = cursor.fetchall()
    products = Product.objects.in_bulk([product_id for product_id, _ in ranked])
    return Recommendations(
        basis="related",
        items=[
            Recommendation(
                products[product_id],
                REASON_BOUGHT_TOGETHER if tier == 0 else REASON_SAME_CATEGORY,
            )
            for product_id, tier in ranked
            if product_id in products
        ],
    )
