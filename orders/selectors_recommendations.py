"""Recommendations after the member's 2nd paid order: items bought together (in one order) by
other members with what this member bought, then items of the same categories, on shelf only,
never what the member already bought. Before that, the best sellers.

Three queries whatever the limit: the member's paid orders count, the member's products and the
bought-together scores (orders), the ranked products (catalog).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from catalog.models import Product
from catalog.selectors import products_best_selling, products_related_ranked

from .selectors import PAID_STATUSES, member_paid_orders_count
from .sql import products_bought_together

MIN_PAID_ORDERS = 2

REASON_BOUGHT_TOGETHER = "bought_together"
REASON_SAME_CATEGORY = "same_category"
REASON_POPULAR = "popular"


@dataclass(frozen=True)
class Recommendation:
    product: Product
    reason: str


@dataclass(frozen=True)
class Recommendations:
    # "related": personalised (≥ 2 paid orders); "popular": not enough orders yet, best sellers.
    basis: str
    items: list[Recommendation]


def recommendations_for_member(*, member_id: int, limit: int | None = None) -> Recommendations:
    limit = limit or settings.RECOMMENDATIONS_LIMIT
    if member_paid_orders_count(member_id=member_id) < MIN_PAID_ORDERS:
        popular = products_best_selling(limit=limit)
        return Recommendations(
            basis="popular", items=[Recommendation(p, REASON_POPULAR) for p in popular]
        )
    mine, scores = products_bought_together(member_id=member_id, paid_statuses=PAID_STATUSES)
    ranked = products_related_ranked(scores=scores, seed_product_ids=mine, limit=limit)
    return Recommendations(
        basis="related",
        items=[
            Recommendation(product, REASON_BOUGHT_TOGETHER if scored else REASON_SAME_CATEGORY)
            for product, scored in ranked
        ],
    )
