"""秒杀 as a discount provider (contract: mall/discounts.py): the flash price of the one line, the
units taken from the item's own pool inside order creation's transaction (so the order skips the
SKU's stock), and the flash payment timeout (FLASH_SALE_PAYMENT_TIMEOUT, 5 min)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.conf import settings

from mall.discounts import Adjustment, PricingChoices
from members.models import Member

from ..services.flash_sale import KIND, FlashLoaded, flash_pricing_load, flash_take_for_order


class FlashSaleProvider:
    key = "flash_sale"
    handles_coupons = False
    promotion_kinds = frozenset({KIND})

    def load(
        self, *, member: Member, lines: Sequence[Any], now: datetime, choices: PricingChoices
    ) -> FlashLoaded | None:
        """Raises: PromotionUnavailable, FlashNotStarted, FlashEnded, FlashLimitReached,
        FlashSoldOut, FlashNotAdmitted."""
        if choices.promotion_kind != KIND:
            return None  # no query for orders without a flash choice
        return flash_pricing_load(member=member, item_id=choices.promotion_id, lines=lines, now=now)

    def apply(
        self, *, lines: Sequence[Any], loaded: FlashLoaded | None, goods_left_fen: int
    ) -> list[Adjustment]:
        if loaded is None:
            return []
        amounts = tuple(
            max(line.unit_price_fen - loaded.flash_price_fen, 0) * line.quantity
            if line.sku_id == loaded.sku_id
            else 0
            for line in lines
        )
        if not sum(amounts):
            return []
        return [
            Adjustment(
                source="flash_sale",
                name="秒杀价",
                amount_fen=sum(amounts),
                line_amounts=amounts,
                ref=loaded.ref,
            )
        ]

    def commit(
        self, *, member: Member, order: Any, quote: Any, loaded: FlashLoaded | None, now: datetime
    ) -> None:
        """Raises: FlashNotAdmitted, FlashLimitReached, FlashSoldOut."""
        if loaded is None:
            return
        flash_take_for_order(
            loaded=loaded, member_id=member.pk, order_id=order.pk, order_no=order.no
        )

    def stock_held_skus(self, *, loaded: FlashLoaded | None) -> frozenset[int]:
        return frozenset({loaded.sku_id}) if loaded is not None else frozenset()

    def payment_timeout_s(self, *, loaded: FlashLoaded | None) -> int | None:
        return settings.FLASH_SALE_PAYMENT_TIMEOUT if loaded is not None else None
