"""Demo journeys and points mall: a 30-day replenish rule on the tea category (with a coupon), a
few points-mall items (two SKUs, one with a cash part, and a coupon), the automatic member tags.
Safe to run twice: everything is found by name first."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from catalog.models import Category, Sku
from members.tags import tags_auto_ensure

from .models import CouponTemplate, PointsMallItem, ReplenishRule


@transaction.atomic
def seed_demo(stdout: Any) -> None:
    tags_auto_ensure()
    replenish_coupon, _ = CouponTemplate.objects.get_or_create(
        name="复购券 满50减5",
        defaults={
            "kind": CouponTemplate.Kind.FULL_REDUCTION,
            "threshold_fen": 5000,
            "amount_fen": 500,
            "validity": CouponTemplate.Validity.RELATIVE,
            "valid_days": 14,
            "description": "复购提醒专享，14天内有效",
        },
    )
    tea = Category.objects.filter(parent=None).order_by("sort_order", "id").first()
    if tea is not None and not ReplenishRule.objects.filter(name="茶叶 30 天复购").exists():
        ReplenishRule.objects.create(
            name="茶叶 30 天复购", category=tea, cycle_days=30, coupon_template=replenish_coupon
        )
    skus = list(
        Sku.objects.filter(is_active=True, product__is_on_shelf=True, stock__gt=0).order_by("id")[
            :2
        ]
    )
    items = 0
    for n, sku in enumerate(skus):
        _, created = PointsMallItem.objects.get_or_create(
            title=f"积分兑 {sku.product.title}"[:60],
            defaults={
                "kind": PointsMallItem.Kind.SKU,
                "sku": sku,
                "points": 2000 if n == 0 else 500,
                "cash_fen": 0 if n == 0 else min(sku.price_fen // 2, 1900),
                "stock": 50,
                "per_member_limit": 1,
            },
        )
        items += created
    coupon = CouponTemplate.objects.filter(name="新人无门槛5元券").first() or replenish_coupon
    _, created = PointsMallItem.objects.get_or_create(
        title="5元无门槛券",
        defaults={
            "kind": PointsMallItem.Kind.COUPON,
            "coupon_template": coupon,
            "points": 500,
            "stock": 1000,
            "per_member_limit": 3,
        },
    )
    items += created
    stdout.write(f"journeys: replenish rule on {tea}, {items} points-mall items added\n")
