"""拼团 as a discount provider (contract: mall/discounts.py): the group price of the one line,
and the seat taken (or the group opened) inside order creation's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mall.discounts import Adjustment, PricingChoices
from members.models import Member

from ..services.group_buy import (
    GROUP_BUY_KINDS,
    KIND_OPEN,
    GroupBuyChoice,
    group_buy_choice_load,
    group_join,
    group_open,
)


class GroupBuyProvider:
    key = "group_buy"
    handles_coupons = False
    promotion_kinds = GROUP_BUY_KINDS

    def load(
        self, *, member: Member, lines: Sequence[Any], now: datetime, choices: PricingChoices
    ) -> GroupBuyChoice | None:
        """Raises: PromotionUnavailable, GroupUnavailable, GroupFull, GroupAlreadyJoined."""
        kind = choices.promotion_kind
        if kind is None or kind not in self.promotion_kinds:
            return None
        return group_buy_choice_load(
            member=member,
            kind=kind,
            target_id=choices.promotion_id,
            sku_ids=[line.sku_id for line in lines],
            now=now,
        )

    def apply(
        self, *, lines: Sequence[Any], loaded: GroupBuyChoice | None, goods_left_fen: int
    ) -> list[Adjustment]:
        if loaded is None or len(lines) != 1:
            return []
        line = lines[0]
        amount = max(line.unit_price_fen - loaded.group_price_fen, 0) * line.quantity
        if amount == 0:
            return []
        return [
            Adjustment(
                source="group_buy",
                name="拼团价",
                amount_fen=amount,
                line_amounts=(amount,),
                ref=loaded.ref,
            )
        ]

    def commit(
        self,
        *,
        member: Member,
        order: Any,
        quote: Any,
        loaded: GroupBuyChoice | None,
        now: datetime,
    ) -> None:
        """Raises: PromotionUnavailable, GroupFull, GroupUnavailable, GroupAlreadyJoined."""
        if loaded is None:
            return
        if loaded.kind == KIND_OPEN:
            group_open(
                campaign_id=loaded.campaign_id,
                member_id=member.pk,
                order_id=order.pk,
                order_no=order.no,
                payable_fen=order.payable_fen,
                now=now,
            )
        elif loaded.group_id is not None:
            group_join(
                group_id=loaded.group_id,
                member_id=member.pk,
                order_id=order.pk,
                order_no=order.no,
                payable_fen=order.payable_fen,
                now=now,
            )
