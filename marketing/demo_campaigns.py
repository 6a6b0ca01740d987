"""Demo campaigns: 满减 on everything (满300减50, 满500减100), 满2件9折, a 限时折扣 on two SKUs
(8折, 限购 2), 任选3件99元 and 买二送一, running for 30 days. Safe to run twice: campaigns are
found by name and kept as they are."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from catalog.models import Sku

from .models import Campaign
from .services.campaigns import ItemInput, TierInput, campaign_create


def seed_demo(stdout: Any) -> None:
    skus = list(
        Sku.objects.filter(is_active=True, product__is_on_shelf=True, price_fen__gte=100)
        .order_by("-stock", "id")
        .values_list("pk", "product_id")[:6]
    )
    now = timezone.now()
    window = {"starts_at": now - timedelta(hours=1), "ends_at": now + timedelta(days=30)}
    specs: list[dict[str, Any]] = [
        {
            "name": "满300减50，满500减100",
            "kind": Campaign.Kind.FULL_REDUCTION,
            "tiers": [TierInput(30000, reduce_fen=5000), TierInput(50000, reduce_fen=10000)],
        },
        {
            "name": "满2件9折",
            "kind": Campaign.Kind.FULL_DISCOUNT,
            "threshold_type": Campaign.ThresholdType.COUNT,
            "tiers": [TierInput(2, rate_bp=9000)],
            "priority": -1,
        },
    ]
    if len(skus) >= 2:
        specs.append(
            {
                "name": "限时8折·每人限购2件",
                "kind": Campaign.Kind.LIMITED_TIME,
                "items": [
                    ItemInput(sku_id=pk, rate_bp=8000, limit_per_member=2) for pk, _ in skus[:2]
                ],
            }
        )
    if len(skus) >= 5:
        specs.append(
            {
                "name": "任选3件99元",
                "kind": Campaign.Kind.N_FOR_PRICE,
                "scope": Campaign.Scope.PRODUCTS,
                "product_ids": [product_id for _, product_id in skus[2:5]],
                "bundle_quantity": 3,
                "bundle_price_fen": 9900,
            }
        )
    if len(skus) >= 6:
        specs.append(
            {
                "name": "买二送一",
                "kind": Campaign.Kind.BUY_GIFT,
                "scope": Campaign.Scope.PRODUCTS,
                "product_ids": [skus[5][1]],
                "buy_quantity": 2,
                "gift_quantity": 1,
            }
        )
    created = 0
    for spec in specs:
        if Campaign.objects.filter(name=spec["name"]).exists():
            continue
        campaign_create(**window, **spec)
        created += 1
    stdout.write(f"营销活动：{Campaign.objects.count()} 个（新增 {created} 个）")
