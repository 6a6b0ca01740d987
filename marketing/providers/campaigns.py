"""Campaigns as discount providers (contract: mall/discounts.py).

- LimitedTimeProvider (4th): 限时折扣, a special price per SKU (限购 per member).
- PromotionProvider (6th, after the member-level discount): 满减/满折, N元N件, 买赠 and the
  coupon, as the best combination for the shopper (campaign_rules.best_combination): the
  combination that takes the most off, ties to fewer discounts, applied in the order
  满减/满折 → N元N件 → 买赠 → coupon. With no coupon chosen (coupon_id None) it picks the best
  usable one and marks it auto; coupon_id 0: no coupon.

Lines priced by a flash sale, group buy or points-mall exchange (SPECIAL_PRICE_SOURCES in the
line's discount_parts) are left alone by both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mall.discounts import SPECIAL_PRICE_SOURCES, Adjustment, Gift, PricingChoices
from mall.errors import CouponUnavailable
from marketing import campaign_rules as rules
from marketing.campaign_rules import CampaignData, CouponOption, RuleLine
from marketing.coupon_rules import SHIPPING, coupon_evaluate
from marketing.services.campaigns import (
    LimitedOffer,
    UsageInput,
    campaign_usages_record,
    campaigns_check_live,
    campaigns_snapshot,
    limited_time_offers,
)
from marketing.services.coupons import (
    coupon_data_for_member,
    coupon_lock_for_order,
    coupons_usable_load,
)

PROMOTION_KINDS = (rules.FULL_REDUCTION, rules.FULL_DISCOUNT, rules.N_FOR_PRICE, rules.BUY_GIFT)


def _level_id(member: Any) -> int | None:
    return getattr(member, "level_id", None)


def _is_special(line: Any) -> bool:
    return any(source in SPECIAL_PRICE_SOURCES for source, _ in getattr(line, "discount_parts", ()))


def _part(line: Any, source: str) -> int:
    return sum(fen for s, fen in getattr(line, "discount_parts", ()) if s == source)


def _campaign_refs(quote: Any, sources: Sequence[str]) -> dict[int, int]:
    """{campaign id: discount fen} of the quote's discounts of these sources."""
    found: dict[int, int] = {}
    for discount in quote.discounts:
        if discount.source in sources and discount.ref.startswith("campaign:"):
            campaign_id = int(discount.ref.split(":", 1)[1])
            found[campaign_id] = found.get(campaign_id, 0) + discount.amount_fen
    return found


# --- 限时折扣 ---
@dataclass(frozen=True)
class LimitedLoaded:
    offers: dict[int, LimitedOffer]  # by sku_id


class LimitedTimeProvider:
    key = "limited_time"
    handles_coupons = False
    promotion_kinds: frozenset[str] = frozenset()

    def load(
        self, *, member: Any, lines: Sequence[Any], now: datetime, choices: PricingChoices
    ) -> LimitedLoaded:
        return LimitedLoaded(
            offers=limited_time_offers(
                member_id=getattr(member, "pk", None),
                level_id=_level_id(member),
                lines=lines,
                now=now,
            )
        )

    def apply(
        self, *, lines: Sequence[Any], loaded: LimitedLoaded, goods_left_fen: int
    ) -> list[Adjustment]:
        if not loaded.offers:
            return []
        by_campaign: dict[int, list[int]] = {}
        names: dict[int, str] = {}
        budget = goods_left_fen
        for i, line in enumerate(lines):
            offer = loaded.offers.get(line.sku_id)
            if offer is None or _is_special(line):
                continue
            amount = rules.limited_time_discount_fen(
                unit_price_fen=line.unit_price_fen,
                special_unit_fen=offer.special_unit_fen,
                units=offer.units,
            )
            amount = max(0, min(amount, line.goods_left_fen, budget))
            if not amount:
                continue
            budget -= amount
            amounts = by_campaign.setdefault(offer.campaign.id, [0] * len(lines))
            amounts[i] = amount
            names[offer.campaign.id] = offer.campaign.name
        return [
            Adjustment(
                source=rules.LIMITED_TIME,
                name=names[campaign_id],
                amount_fen=sum(amounts),
                line_amounts=tuple(amounts),
                ref=f"campaign:{campaign_id}",
            )
            for campaign_id, amounts in by_campaign.items()
        ]

    def commit(
        self, *, member: Any, order: Any, quote: Any, loaded: LimitedLoaded, now: datetime
    ) -> None:
        """Take the 限购 units and record the usage rows.

        Raises: PromotionUnavailable (a campaign ended meanwhile), CampaignPurchaseLimitReached.
        """
        used = _campaign_refs(quote, (rules.LIMITED_TIME,))
        if not used:
            return
        campaigns_check_live(campaign_ids=used, now=now)
        usages = []
        for campaign_id, discount_fen in sorted(used.items()):
            units: dict[int, int] = {}
            limits: dict[int, int] = {}
            goods_fen = 0
            for line in quote.lines:
                offer = loaded.offers.get(line.sku_id)
                if offer is None or offer.campaign.id != campaign_id:
                    continue
                if not _part(line, rules.LIMITED_TIME):
                    continue
                goods_fen += line.goods_fen
                item = offer.campaign.item_for(line.sku_id)
                if item is not None and item.limit_per_member:
                    units[line.sku_id] = offer.units
                    limits[line.sku_id] = item.limit_per_member
            usages.append(UsageInput(campaign_id, discount_fen, goods_fen, units, limits))
        campaign_usages_record(
            member_id=member.pk, order_id=order.pk, order_no=order.no, usages=usages
        )


# --- 满减/满折, N元N件, 买赠 and coupons ---
@dataclass(frozen=True)
class PromotionLoaded:
    campaigns: tuple[CampaignData, ...]
    limited_by_sku: dict[int, CampaignData]  # the 限时 campaign pricing each SKU, if any
    coupons: tuple[Any, ...]  # CouponData
    coupon_required: bool  # the shopper chose coupons[0]
    coupon_auto: bool  # the shopper did not choose: the best one is picked for them
    # 运费券 are judged once shipping is known (apply_shipping): the chosen one, or the usable
    # ones to pick from when the shopper did not choose and no other coupon was used.
    shipping_coupons: tuple[Any, ...] = ()
    gift_campaigns: tuple[CampaignData, ...] = ()  # 买赠 of another SKU (gift lines)


@dataclass(frozen=True)
class _CouponLine:
    """A QuoteLine-like line for coupon_evaluate."""

    sku_id: int
    product_id: int
    category_ids: tuple[int, ...]
    quantity: int
    unit_price_fen: int
    goods_fen: int
    discount_fen: int
    discount_parts: tuple[tuple[str, int], ...]

    @property
    def goods_left_fen(self) -> int:
        return self.goods_fen - self.discount_fen


def _coupon_line(line: Any, left_fen: int | None = None) -> _CouponLine:
    goods = line.unit_price_fen * line.quantity
    left = goods - getattr(line, "discount_fen", 0) if left_fen is None else left_fen
    return _CouponLine(
        sku_id=line.sku_id,
        product_id=line.product_id,
        category_ids=tuple(getattr(line, "category_ids", ())),
        quantity=line.quantity,
        unit_price_fen=line.unit_price_fen,
        goods_fen=goods,
        discount_fen=goods - left,
        discount_parts=tuple(getattr(line, "discount_parts", ())),
    )


def _coupon_option(coupon: Any, lines: Sequence[Any]) -> CouponOption:
    def evaluate(idx: Sequence[int], lefts: Sequence[int]) -> tuple[int, Sequence[int], str]:
        if not idx:
            return 0, (), "本单没有适用此券的商品"
        judged = [_coupon_line(lines[i], left) for i, left in zip(idx, lefts, strict=True)]
        result = coupon_evaluate(coupon, judged)
        weights = result.line_weights if result.line_weights is not None else tuple(lefts)
        return result.amount_fen, weights, result.unusable_reason or ""

    return CouponOption(
        id=coupon.id,
        name=coupon.name,
        stackable_with_campaigns=getattr(coupon, "stackable_with_campaigns", True),
        evaluate=evaluate,
    )


class PromotionProvider:
    key = "promotions"
    handles_coupons = True
    promotion_kinds: frozenset[str] = frozenset()

    def load(
        self, *, member: Any, lines: Sequence[Any], now: datetime, choices: PricingChoices
    ) -> PromotionLoaded:
        """Raises: CouponUnavailable (with the reason), CouponExpired, CouponNotStarted when the
        chosen coupon cannot be used."""
        level_id = _level_id(member)
        live = campaigns_snapshot(now=now)
        eligible = tuple(c for c in live if c.kind in PROMOTION_KINDS and c.is_eligible(level_id))
        # A gift of another SKU takes nothing off the goods: it adds a free line (gift_lines).
        campaigns = tuple(c for c in eligible if not c.gift_sku_id)
        # (no gifts with a flash / group / points-mall price: those lines do not count)
        gift_campaigns = tuple(
            c for c in eligible if c.gift_sku_id and choices.promotion_kind is None
        )
        offers = limited_time_offers(
            member_id=member.pk, level_id=level_id, lines=lines, now=now, campaigns=live
        )
        coupons: tuple[Any, ...] = ()
        shipping_coupons: tuple[Any, ...] = ()
        if choices.coupon_id is None:
            usable = coupons_usable_load(member_id=member.pk, now=now)
            coupons = tuple(c for c in usable if c.kind != SHIPPING)
            shipping_coupons = tuple(c for c in usable if c.kind == SHIPPING)
        elif choices.coupon_id:
            coupon = coupon_data_for_member(
                member_id=member.pk, coupon_id=choices.coupon_id, now=now
            )
            result = coupon_evaluate(coupon, [_coupon_line(line) for line in lines])
            if result.unusable_reason:
                raise CouponUnavailable(
                    result.unusable_reason, coupon_id=coupon.id, reason=result.unusable_reason
                )
            if coupon.kind == SHIPPING:
                shipping_coupons = (coupon,)
            else:
                coupons = (coupon,)
        return PromotionLoaded(
            campaigns=campaigns,
            limited_by_sku={sku_id: offer.campaign for sku_id, offer in offers.items()},
            coupons=coupons,
            coupon_required=bool(choices.coupon_id) and bool(coupons),
            coupon_auto=choices.coupon_id is None,
            shipping_coupons=shipping_coupons,
            gift_campaigns=gift_campaigns,
        )

    def gift_lines(self, *, loaded: PromotionLoaded, lines: Sequence[Any]) -> list[Gift]:
        """买N赠X: every buy_quantity units of the campaign's scope (special-priced lines do not
        count) bring gift_quantity units of its gift SKU."""
        gifts = []
        for campaign in loaded.gift_campaigns:
            units = sum(
                line.quantity
                for line in lines
                if campaign.covers(product_id=line.product_id, category_ids=line.category_ids)
            )
            times = units // campaign.buy_quantity if campaign.buy_quantity else 0
            if times and campaign.gift_sku_id:
                gifts.append(
                    Gift(
                        sku_id=campaign.gift_sku_id,
                        quantity=times * campaign.gift_quantity,
                        ref=f"campaign:{campaign.id}",
                        name=campaign.name,
                    )
                )
        return gifts

    def apply(
        self, *, lines: Sequence[Any], loaded: PromotionLoaded, goods_left_fen: int
    ) -> list[Adjustment]:
        """Raises: CouponUnavailable when the chosen coupon fits no combination (e.g. its
        threshold is no longer reached after the discounts before it)."""
        if not loaded.campaigns and not loaded.coupons:
            return []
        rule_lines = [
            RuleLine(
                sku_id=line.sku_id,
                product_id=line.product_id,
                category_ids=tuple(line.category_ids),
                quantity=line.quantity,
                left_fen=line.goods_left_fen,
                limited_campaign=loaded.limited_by_sku.get(line.sku_id)
                if _part(line, rules.LIMITED_TIME)
                else None,
                is_special=_is_special(line) or bool(getattr(line, "gift_ref", "")),
            )
            for line in lines
        ]
        combo = rules.best_combination(
            loaded.campaigns,
            rule_lines,
            budget_fen=goods_left_fen,
            coupons=[_coupon_option(c, lines) for c in loaded.coupons],
            coupon_required=loaded.coupon_required,
        )
        if loaded.coupon_required and combo.coupon_id is None:
            coupon = loaded.coupons[0]
            raise CouponUnavailable(
                combo.coupon_reason or None, coupon_id=coupon.id, reason=combo.coupon_reason
            )
        return [
            Adjustment(
                source=step.source,
                name=step.name,
                amount_fen=step.amount_fen,
                line_amounts=step.line_amounts,
                ref=step.ref,
                auto=step.coupon_id is not None and loaded.coupon_auto,
            )
            for step in combo.steps
        ]

    def apply_shipping(
        self, *, lines: Sequence[Any], loaded: PromotionLoaded, shipping_fen: int
    ) -> list[Adjustment]:
        """A 运费券 on the shipping fee: the one the shopper chose, or — when they did not choose
        and no other coupon was used — the usable one worth the most (auto). A coupon that does
        not stack with campaigns is skipped when a campaign priced the order.

        Raises: CouponUnavailable when the chosen one cannot be used (no fee to pay)."""
        if not loaded.shipping_coupons:
            return []
        chosen = not loaded.coupon_auto
        sources = {source for line in lines for source, _ in getattr(line, "discount_parts", ())}
        if "coupon" in sources:
            return []  # one coupon per order
        campaigned = bool(sources & {*PROMOTION_KINDS, rules.LIMITED_TIME})
        best: tuple[int, Any] | None = None
        for coupon in loaded.shipping_coupons:
            if campaigned and not getattr(coupon, "stackable_with_campaigns", True):
                if chosen:
                    raise CouponUnavailable(
                        "此券不可与活动同享", coupon_id=coupon.id, reason="不可与活动同享"
                    )
                continue
            judged = [_coupon_line(line) for line in lines]
            result = coupon_evaluate(coupon, judged, shipping_hint_fen=shipping_fen)
            if result.unusable_reason and chosen:
                raise CouponUnavailable(
                    result.unusable_reason, coupon_id=coupon.id, reason=result.unusable_reason
                )
            if not result.unusable_reason and result.amount_fen > (best[0] if best else 0):
                best = (result.amount_fen, coupon)
        if best is None:
            if chosen:
                coupon = loaded.shipping_coupons[0]
                raise CouponUnavailable(
                    "本单无需运费，运费券不可用", coupon_id=coupon.id, reason="本单无需运费"
                )
            return []
        amount, coupon = best
        return [
            Adjustment(
                source="coupon",
                name=coupon.name,
                amount_fen=amount,
                ref=f"coupon:{coupon.id}",
                auto=loaded.coupon_auto,
            )
        ]

    def commit(
        self, *, member: Any, order: Any, quote: Any, loaded: PromotionLoaded, now: datetime
    ) -> None:
        """Lock the coupon for the order and record the campaigns' usage rows.

        Raises: PromotionUnavailable (a campaign ended meanwhile), CouponUnavailable.
        """
        used = _campaign_refs(quote, PROMOTION_KINDS)
        for line in quote.lines:  # a gift campaign takes nothing off: its usage counts 0 fen
            if line.gift_ref.startswith("campaign:"):
                used.setdefault(int(line.gift_ref.split(":", 1)[1]), 0)
        if used:
            campaigns_check_live(campaign_ids=used, now=now)
            by_id = {c.id: c for c in (*loaded.campaigns, *loaded.gift_campaigns)}
            usages = []
            for campaign_id, discount_fen in sorted(used.items()):
                campaign = by_id[campaign_id]
                goods_fen = sum(
                    line.goods_fen
                    for line in quote.lines
                    if not _is_special(line)
                    and not line.gift_ref
                    and campaign.covers(product_id=line.product_id, category_ids=line.category_ids)
                )
                usages.append(UsageInput(campaign_id, discount_fen, goods_fen, {}, {}))
            campaign_usages_record(
                member_id=member.pk, order_id=order.pk, order_no=order.no, usages=usages
            )
        for discount in quote.discounts:
            if discount.source == "coupon" and discount.ref.startswith("coupon:"):
                coupon_lock_for_order(
                    coupon_id=int(discount.ref.split(":", 1)[1]),
                    member_id=member.pk,
                    order_id=order.pk,
                    now=now,
                )
