"""Reads of the journeys' rules, as plain data for the use cases above marketing."""

from __future__ import annotations

from dataclasses import dataclass

from .models import ReplenishRule


@dataclass(frozen=True)
class ReplenishRuleData:
    """An active replenish rule: on a product, or on a category with its sub-categories."""

    id: int
    product_id: int | None
    category_id: int | None
    cycle_days: int
    coupon_template_id: int | None
    send_message: bool


def replenish_rules_active() -> list[ReplenishRuleData]:
    """The active replenish rules, in id order; one query."""
    rows = (
        ReplenishRule.objects.filter(is_active=True)
        .order_by("pk")
        .values_list(
            "pk", "product_id", "category_id", "cycle_days", "coupon_template_id", "send_message"
        )
    )
    return [ReplenishRuleData(*row) for row in rows]
