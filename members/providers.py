"""The member level discount (会员折扣) as a discount provider of orders' price_cart (the contract
is mall/discounts.py): the member's level rate on every line without a special price, and the
level's free shipping (会员包邮) once the fee is known."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mall.discounts import SPECIAL_PRICE_SOURCES, Adjustment, PricingChoices
from mall.money import BASIS_POINTS, mul_div_round_half_up

from .models import MemberLevel


@dataclass(frozen=True)
class LoadedLevel:
    id: int
    name: str
    discount_bp: int
    label: str
    free_shipping: bool = False


class LevelDiscountProvider:
    key = "level"
    handles_coupons = False
    promotion_kinds: frozenset[str] = frozenset()

    def load(
        self, *, member: Any, lines: Sequence[Any], now: datetime, choices: PricingChoices
    ) -> LoadedLevel | None:
        level_id = getattr(member, "level_id", None)
        if level_id is None:
            return None
        level = (
            MemberLevel.objects.filter(pk=level_id)
            .only("pk", "name", "discount_bp", "free_shipping")
            .first()
        )
        if level is None or (level.discount_bp >= BASIS_POINTS and not level.free_shipping):
            return None
        return LoadedLevel(
            id=level.pk,
            name=level.name,
            discount_bp=level.discount_bp,
            label=level.discount_label,
            free_shipping=level.free_shipping,
        )

    def apply(
        self, *, lines: Sequence[Any], loaded: LoadedLevel | None, goods_left_fen: int
    ) -> list[Adjustment]:
        """One adjustment for the order: (1 − rate) × the eligible goods left, rounded half up
        once per order, allocated to the eligible lines in proportion."""
        if loaded is None or loaded.discount_bp >= BASIS_POINTS:
            return []
        weights = tuple(
            0
            if any(source in SPECIAL_PRICE_SOURCES for source, _ in line.discount_parts)
            else max(line.goods_left_fen, 0)
            for line in lines
        )
        base = sum(weights)
        amount = base - mul_div_round_half_up(base, loaded.discount_bp, BASIS_POINTS)
        if amount <= 0:
            return []
        return [
            Adjustment(
                source="level",
                name=f"{loaded.name}{loaded.label}",
                amount_fen=amount,
                line_weights=weights,
                ref=f"level:{loaded.id}",
            )
        ]

    def apply_shipping(
        self, *, lines: Sequence[Any], loaded: LoadedLevel | None, shipping_fen: int
    ) -> list[Adjustment]:
        """会员包邮: the level's members pay no shipping (the whole fee left)."""
        if loaded is None or not loaded.free_shipping or shipping_fen <= 0:
            return []
        return [
            Adjustment(
                source="level_shipping",
                name=f"{loaded.name}包邮",
                amount_fen=shipping_fen,
                ref=f"level:{loaded.id}",
            )
        ]
