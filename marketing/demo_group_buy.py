"""Demo group buys: a 2-person and a 3-person campaign on demo SKUs, running for 30 days (the
second completes with virtual members at its deadline). Safe to run twice: campaigns are found
by name and kept as they are."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from catalog.models import Sku

from .models import GroupBuyCampaign

CAMPAIGNS = (
    # name, size, rate of the SKU price (%), hours to form, virtual auto-complete
    ("二人拼团·立享 7 折", 2, 70, 24, False),
    ("三人成团·5 折尝鲜", 3, 50, 48, True),
)


def seed_demo(stdout: Any) -> None:
    skus = list(
        Sku.objects.filter(is_active=True, product__is_on_shelf=True, price_fen__gte=100)
        .order_by("-stock", "id")
        .values_list("pk", "price_fen")[: len(CAMPAIGNS)]
    )
    now = timezone.now()
    created = 0
    for (name, size, rate, hours, virtual), (sku_id, price_fen) in zip(
        CAMPAIGNS, skus, strict=False
    ):
        _, was_created = GroupBuyCampaign.objects.get_or_create(
            name=name,
            defaults={
                "sku_id": sku_id,
                "group_price_fen": max(1, price_fen * rate // 100),
                "size": size,
                "form_hours": hours,
                "starts_at": now - timedelta(hours=1),
                "ends_at": now + timedelta(days=30),
                "auto_complete_with_virtual": virtual,
            },
        )
        created += was_created
    stdout.write(f"拼团：{GroupBuyCampaign.objects.count()} 个活动（新增 {created} 个）")
