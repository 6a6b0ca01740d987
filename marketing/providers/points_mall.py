"""积分商城 as a discount provider (contract: mall/discounts.py): a SKU item's line costs its cash
part in fen plus the item's points; the item's stock is taken inside order creation."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mall.discounts import Adjustment, PricingChoices
from members.models import Member

from ..services.points_mall import (
    PROMOTION_KIND,
    PointsMallChoice,
    points_mall_choice_load,
    points_mall_order_hold_locked,
)


class PointsMallProvider:
    key = "points_mall"
    handles_coupons = False
    promotion_kinds = frozenset({PROMOTION_KIND})

    def load(
        self, *, member: Member, lines: Sequence[Any], now: datetime, choices: PricingChoices
    ) -> PointsMallChoice | None:
        """Raises: PromotionUnavailable, PointsMallItemUnavailable, PointsMallLimitReached,
        PointsMallSoldOut."""
        if choices.promotion_kind != PROMOTION_KIND:
            return None
        return points_mall_choice_load(member=member, item_id=choices.promotion_id, lines=lines)

    def apply(
        self, *, lines: Sequence[Any], loaded: PointsMallChoice | None, goods_left_fen: int
    ) -> list[Adjustment]:
        if loaded is None or len(lines) != 1:
            return []
        line = lines[0]
        # The shopper pays the cash part in fen; the rest of the goods is paid with points.
        amount = max(line.goods_left_fen - loaded.cash_fen * line.quantity, 0)
        return [
            Adjustment(
                source="points_mall",
                name="积分兑换",
                amount_fen=amount,
                line_amounts=(amount,),
                ref=loaded.ref,
                points_cost=loaded.points_cost,
            )
        ]

    def commit(
        self,
        *,
        member: Member,
        order: Any,
        quote: Any,
        loaded: PointsMallChoice | None,
        now: datetime,
    ) -> None:
        """Raises: PointsMallLimitReached, PointsMallSoldOut."""
        if loaded is None:
            return
        points_mall_order_hold_locked(
            member_id=member.pk, choice=loaded, order_id=order.pk, order_no=order.no
        )
