"""Demo flash sales: today's 10:00, 14:00 and 20:00 sessions, each with a few demo SKUs at a flash
price (units carved out of the SKUs' stock). Safe to run twice: existing sessions and items are
kept as they are."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from catalog.models import Sku

from .models import FlashItem, FlashSession
from .services.flash_sale import flash_counters_reconcile, flash_item_create

SESSIONS = (("10:00 场", time(10), time(14)), ("14:00 场", time(14), time(20)))
EVENING = ("20:00 场", time(20))  # until midnight
ITEMS_PER_SESSION = 3


def _at(day: Any, moment: time) -> datetime:
    return timezone.make_aware(datetime.combine(day, moment))


@transaction.atomic
def seed_demo(stdout: Any) -> None:
    day = timezone.localdate()
    windows = [(name, _at(day, start), _at(day, end)) for name, start, end in SESSIONS]
    windows.append((EVENING[0], _at(day, EVENING[1]), _at(day + timedelta(days=1), time(0))))
    skus = list(
        Sku.objects.filter(is_active=True, product__is_on_shelf=True, stock__gte=40)
        .order_by("id")
        .values_list("pk", "price_fen", "stock")[: ITEMS_PER_SESSION * len(windows)]
    )
    created = 0
    for n, (name, starts_at, ends_at) in enumerate(windows):
        session, _ = FlashSession.objects.get_or_create(
            name=name, starts_at=starts_at, defaults={"ends_at": ends_at}
        )
        for sku_id, price_fen, stock in skus[n * ITEMS_PER_SESSION : (n + 1) * ITEMS_PER_SESSION]:
            if price_fen < 2 or FlashItem.objects.filter(session=session, sku_id=sku_id).exists():
                continue
            flash_item_create(
                session=session,
                sku_id=sku_id,
                flash_price_fen=max(1, price_fen * 6 // 10),  # 6 折
                total_stock=min(20, stock // 4),
                per_member_limit=1,
                operator="seed_demo",
            )
            created += 1
    transaction.on_commit(flash_counters_reconcile)
    stdout.write(f"秒杀：今日 {len(windows)} 个场次，新增 {created} 个秒杀商品")
