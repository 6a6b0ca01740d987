"""THE pricing function: `price_cart(inputs) -> Quote`, pure (no queries).

`orders.selectors.pricing_inputs_load` gathers everything it needs (SKUs, freight templates, the
address or pickup point, what each discount provider loads); the checkout preview and order
creation both call `price_cart` on that, so the preview and the order agree to the fen.

Order of the computation (each step capped by what is left, never negative):
1. goods_fen = Σ unit price × quantity;
2. discount providers (orders/discount_providers.py), in order; each adjustment is capped
   by the goods left, keeping at least 1 fen of goods while the order has any (WeChat Pay cannot
   charge 0 fen), and allocated to lines (remainder to the last line, no line below 0);
3. shipping per freight template group; "free over" compares the group's goods **after**
   discounts (what the shopper really pays for the goods) with the template's threshold; then
   the providers' optional `apply_shipping` (a 运费券), each capped by the shipping left;
4. points: min(requested, member's points) worth `rule.points_per_yuan` per 100 fen, capped at
   `rule.max_percent` % of what is left to pay and leaving at least 1 fen; allocated to lines by
   what each has left; plus the points some adjustments cost (a points-mall exchange); then stored
   value: min(requested, member balance, payable);
5. payable = goods − discounts + shipping − points; wechat_pay = payable − balance.
Shipping is allocated to lines too (by goods after discounts), so Σ line paid_fen = payable_fen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from mall.discounts import Adjustment, DiscountProvider, Gift, PointsRule, PricingChoices
from mall.errors import BalanceUnavailable, DeliveryUnavailable, PointsUnavailable
from mall.money import allocate, allocate_capped

__all__ = ["Adjustment", "Gift", "PointsRule", "PricingChoices", "price_cart"]

EXPRESS = "express"
PICKUP = "pickup"
CHARGE_BY_WEIGHT = "weight"
CHARGE_BY_PIECE = "piece"


# --- inputs ---
@dataclass(frozen=True)
class LineInput:
    """What the shopper asks to buy: a SKU and a quantity."""

    sku_id: int
    quantity: int


@dataclass(frozen=True)
class PromotionChoice:
    kind: str
    id: int


@dataclass(frozen=True)
class DeliveryChoice:
    """Exactly one of address_id (express) and pickup_point_id (pickup)."""

    address_id: int | None = None
    pickup_point_id: int | None = None

    @property
    def type(self) -> str:
        return PICKUP if self.pickup_point_id is not None else EXPRESS


@dataclass(frozen=True)
class PricingLine:
    """A line with everything loaded that pricing and the order snapshot need."""

    sku_id: int
    product_id: int
    quantity: int
    unit_price_fen: int
    weight_g: int
    freight_template_id: int | None
    title: str
    spec_text: str
    image_url: str
    category_ids: tuple[int, ...] = ()  # the product's category and its ancestors
    gift_ref: str = ""  # a free gift (price 0) of this promotion, e.g. "campaign:3"


@dataclass(frozen=True)
class FreightRuleData:
    regions: tuple[str, ...]
    first_units: int
    first_fee_fen: int
    extra_units: int
    extra_fee_fen: int


@dataclass(frozen=True)
class FreightTemplateData:
    id: int
    name: str
    charge_by: str
    free_over_fen: int | None
    rules: tuple[FreightRuleData, ...]


@dataclass(frozen=True)
class DeliveryInfo:
    type: str
    province: str = ""
    address: dict[str, str] = field(default_factory=dict)  # snapshot for express
    pickup_point_id: int | None = None


@dataclass(frozen=True)
class LoadedDiscount:
    provider: DiscountProvider
    loaded: Any


@dataclass(frozen=True)
class PricingInputs:
    lines: tuple[PricingLine, ...]
    delivery: DeliveryInfo
    freight_templates: tuple[FreightTemplateData, ...] = ()
    default_freight_template_id: int | None = None
    discounts: tuple[LoadedDiscount, ...] = ()
    coupon_id: int | None = None
    points: int = 0
    balance_fen: int = 0
    promotion: PromotionChoice | None = None
    member_points_balance: int = 0
    member_balance_fen: int = 0
    points_rule: PointsRule = field(default_factory=PointsRule)


# --- outputs ---
@dataclass(frozen=True)
class QuoteLine:
    sku_id: int
    product_id: int
    quantity: int
    unit_price_fen: int
    goods_fen: int
    discount_fen: int = 0  # every discount and points deduction allocated to this line
    shipping_fen: int = 0  # this line's share of the shipping fee (inside paid_fen)
    paid_fen: int = 0
    # Per source, e.g. (("full_reduction", 300), ("coupon", 100)): what a refund gives back.
    discount_parts: tuple[tuple[str, int], ...] = ()
    category_ids: tuple[int, ...] = ()
    gift_ref: str = ""  # a free gift line (unit price 0), not discounted by anyone
    weight_g: int = 0
    freight_template_id: int | None = None
    title: str = ""
    spec_text: str = ""
    image_url: str = ""

    @property
    def goods_left_fen(self) -> int:
        return self.goods_fen - self.discount_fen


@dataclass(frozen=True)
class Discount:
    source: str
    name: str
    amount_fen: int
    ref: str = ""  # what the order takes, e.g. "coupon:12"
    auto: bool = False  # chosen for the shopper (the best combination), not by them


@dataclass(frozen=True)
class Quote:
    goods_fen: int
    discounts: tuple[Discount, ...]
    shipping_fen: int
    points_used: int
    points_fen: int
    balance_fen: int
    payable_fen: int
    wechat_pay_fen: int
    lines: tuple[QuoteLine, ...]
    delivery: DeliveryInfo

    @property
    def discount_fen(self) -> int:
        return sum(d.amount_fen for d in self.discounts)


# --- the function ---
def price_cart(inputs: PricingInputs) -> Quote:
    """The breakdown for a set of lines; pure.

    Raises: CouponUnavailable, PointsUnavailable, BalanceUnavailable, PromotionUnavailable,
    DeliveryUnavailable.
    """
    _check_choices(inputs)
    lines = tuple(
        QuoteLine(
            sku_id=line.sku_id,
            product_id=line.product_id,
            quantity=line.quantity,
            unit_price_fen=line.unit_price_fen,
            goods_fen=line.unit_price_fen * line.quantity,
            weight_g=line.weight_g,
            freight_template_id=line.freight_template_id,
            title=line.title,
            spec_text=line.spec_text,
            image_url=line.image_url,
            category_ids=line.category_ids,
            gift_ref=line.gift_ref,
        )
        for line in inputs.lines
    )
    goods_fen = sum(line.goods_fen for line in lines)
    # WeChat Pay cannot charge 0 fen: discounts always leave at least 1 fen of goods.
    goods_floor_fen = 1 if goods_fen > 0 else 0

    discounts: list[Discount] = []
    points_cost = 0
    for loaded in inputs.discounts:
        goods_left = sum(line.goods_left_fen for line in lines)
        for adjustment in loaded.provider.apply(
            lines=lines, loaded=loaded.loaded, goods_left_fen=goods_left - goods_floor_fen
        ):
            goods_left = sum(line.goods_left_fen for line in lines)
            # A points-mall exchange may make the goods free (points pay for them; an order with
            # nothing to pay by WeChat is paid at once); other discounts leave 1 fen.
            floor = 0 if adjustment.points_cost else goods_floor_fen
            amount = max(0, min(adjustment.amount_fen, goods_left - floor))
            points_cost += adjustment.points_cost
            if amount == 0:
                continue
            parts = _adjustment_parts(adjustment, amount, lines)
            lines = tuple(
                replace(
                    line,
                    discount_fen=line.discount_fen + part,
                    discount_parts=(*line.discount_parts, (adjustment.source, part)),
                )
                if part
                else line
                for line, part in zip(lines, parts, strict=True)
            )
            discounts.append(
                Discount(
                    adjustment.source, adjustment.name, amount, adjustment.ref, adjustment.auto
                )
            )

    shipping_fen = _shipping_fen(inputs, lines)
    shipping_parts = allocate(shipping_fen, [line.goods_left_fen for line in lines])
    lines = tuple(
        replace(
            line,
            shipping_fen=share,
            paid_fen=line.goods_fen - line.discount_fen + share,
        )
        for line, share in zip(lines, shipping_parts, strict=True)
    )
    lines, shipping_discounts = _shipping_discounts(inputs, lines, shipping_fen)
    discounts.extend(shipping_discounts)
    points_fen, points_for_fen = points_deduction(
        requested=inputs.points,
        available=inputs.member_points_balance - points_cost,
        rule=inputs.points_rule,
        left_to_pay_fen=sum(line.paid_fen for line in lines),
    )
    if points_fen:
        point_parts = allocate_capped(
            points_fen,
            [line.paid_fen for line in lines],
            [line.paid_fen for line in lines],
        )
        lines = tuple(
            replace(
                line,
                discount_fen=line.discount_fen + part,
                discount_parts=(*line.discount_parts, ("points", part)),
                paid_fen=line.paid_fen - part,
            )
            if part
            else line
            for line, part in zip(lines, point_parts, strict=True)
        )
    points_used = points_cost + points_for_fen
    if points_cost > inputs.member_points_balance:
        raise PointsUnavailable("积分不足", points=points_cost)
    payable_fen = goods_fen - sum(d.amount_fen for d in discounts) + shipping_fen - points_fen
    # Stored value: what the shopper asks to use, capped by the balance and the payable. When it
    # does not cover the whole payable, WeChat charges the rest (≥ 1 fen, as it is an int > 0).
    balance_fen = max(0, min(inputs.balance_fen, inputs.member_balance_fen, payable_fen))
    return Quote(
        goods_fen=goods_fen,
        discounts=tuple(discounts),
        shipping_fen=shipping_fen,
        points_used=points_used,
        points_fen=points_fen,
        balance_fen=balance_fen,
        payable_fen=payable_fen,
        wechat_pay_fen=payable_fen - balance_fen,
        lines=lines,
        delivery=inputs.delivery,
    )


def _shipping_discounts(
    inputs: PricingInputs, lines: tuple[QuoteLine, ...], shipping_fen: int
) -> tuple[tuple[QuoteLine, ...], list[Discount]]:
    """Discounts on the shipping fee (providers' `apply_shipping(*, lines, loaded, shipping_fen)`),
    each capped by the fee left and taken from the lines' shipping shares."""
    discounts: list[Discount] = []
    shipping_left = shipping_fen
    caps = [line.shipping_fen for line in lines]  # each line's shipping share not yet discounted
    for loaded in inputs.discounts:
        method = getattr(loaded.provider, "apply_shipping", None)
        if method is None:
            continue  # (called even with no fee left: a chosen 运费券 must then be refused)
        for adjustment in method(lines=lines, loaded=loaded.loaded, shipping_fen=shipping_left):
            amount = max(0, min(adjustment.amount_fen, shipping_left))
            if amount == 0:
                continue
            parts = allocate_capped(amount, caps, caps)
            caps = [cap - part for cap, part in zip(caps, parts, strict=True)]
            lines = tuple(
                replace(
                    line,
                    discount_fen=line.discount_fen + part,
                    discount_parts=(*line.discount_parts, (adjustment.source, part)),
                    paid_fen=line.paid_fen - part,
                )
                if part
                else line
                for line, part in zip(lines, parts, strict=True)
            )
            shipping_left -= amount
            discounts.append(
                Discount(
                    adjustment.source, adjustment.name, amount, adjustment.ref, adjustment.auto
                )
            )
    return lines, discounts


def _check_choices(inputs: PricingInputs) -> None:
    # Coupons and promotions are judged by the providers that handle them (pricing_inputs_load).
    if inputs.points < 0:
        raise PointsUnavailable(points=inputs.points)
    if inputs.balance_fen < 0:
        raise BalanceUnavailable(balance_fen=inputs.balance_fen)


def points_deduction(
    *, requested: int, available: int, rule: PointsRule, left_to_pay_fen: int
) -> tuple[int, int]:
    """(fen the points pay, points that takes): whole fen only, at most `max_percent` % of what
    is left to pay and never all of it (WeChat Pay cannot charge 0 fen; stored value may still
    pay the rest). Points worth less than 1 fen are not taken."""
    points = max(0, min(requested, available))
    if not points or left_to_pay_fen <= 1:
        return 0, 0
    cap_fen = min(left_to_pay_fen * rule.max_percent // 100, left_to_pay_fen - 1)
    fen = min(points * 100 // rule.points_per_yuan, cap_fen)
    if fen <= 0:
        return 0, 0
    # The fewest points worth `fen` (ceil), never more than the shopper offered.
    return fen, min(points, -(-fen * rule.points_per_yuan // 100))


def _adjustment_parts(
    adjustment: Adjustment, amount: int, lines: tuple[QuoteLine, ...]
) -> list[int]:
    caps = [line.goods_left_fen for line in lines]
    # Exact per-line amounts are kept as they are when not capped (allocate then returns them).
    weights: Sequence[int] = (
        adjustment.line_amounts
        if adjustment.line_amounts is not None
        else adjustment.line_weights
        if adjustment.line_weights is not None
        else caps
    )
    if len(weights) != len(lines):
        raise ValueError(f"{adjustment.source}: one weight per line")
    return allocate_capped(amount, weights, caps)


def _shipping_fen(inputs: PricingInputs, lines: tuple[QuoteLine, ...]) -> int:
    if inputs.delivery.type == PICKUP:
        return 0
    templates = {template.id: template for template in inputs.freight_templates}
    groups: dict[int, list[QuoteLine]] = {}
    for line in lines:
        if line.gift_ref:
            continue  # gifts ship with the order at no charge
        template_id = line.freight_template_id or inputs.default_freight_template_id
        if template_id is None:
            continue  # no template at all: the merchant ships it free
        groups.setdefault(template_id, []).append(line)
    total = 0
    for template_id, group in groups.items():
        template = templates[template_id]
        group_goods_left = sum(line.goods_left_fen for line in group)
        if template.free_over_fen is not None and group_goods_left >= template.free_over_fen:
            continue
        rule = freight_rule_for(template, inputs.delivery.province)
        if rule is None:
            raise DeliveryUnavailable(province=inputs.delivery.province, template=template.name)
        units = (
            sum(line.weight_g * line.quantity for line in group)
            if template.charge_by == CHARGE_BY_WEIGHT
            else sum(line.quantity for line in group)
        )
        total += freight_fee_fen(rule, units)
    return total


def freight_rule_for(template: FreightTemplateData, province: str) -> FreightRuleData | None:
    """The first rule naming the province, else the rule for everywhere else, else none."""
    for rule in template.rules:
        if province in rule.regions:
            return rule
    return next((rule for rule in template.rules if not rule.regions), None)


def freight_fee_fen(rule: FreightRuleData, units: int) -> int:
    extra = max(0, units - rule.first_units)
    extra_steps = -(-extra // rule.extra_units)  # each started step is charged
    return rule.first_fee_fen + extra_steps * rule.extra_fee_fen


def quote_as_breakdown(quote: Quote) -> dict[str, Any]:
    """Exactly the API's breakdown shape (DESIGN.md, Core API contract)."""
    return {
        "goods_fen": quote.goods_fen,
        "discounts": [
            {
                "source": d.source,
                "name": d.name,
                "amount_fen": d.amount_fen,
                "ref": d.ref,
                "auto": d.auto,
            }
            for d in quote.discounts
        ],
        "shipping_fen": quote.shipping_fen,
        "points_used": quote.points_used,
        "points_fen": quote.points_fen,
        "balance_fen": quote.balance_fen,
        "payable_fen": quote.payable_fen,
        "wechat_pay_fen": quote.wechat_pay_fen,
        "lines": [
            {
                "sku_id": line.sku_id,
                "quantity": line.quantity,
                "unit_price_fen": line.unit_price_fen,
                "discount_fen": line.discount_fen,
                "paid_fen": line.paid_fen,
                "gift": bool(line.gift_ref),
            }
            for line in quote.lines
        ],
    }


def breakdown_benefits(breakdown: dict[str, Any]) -> tuple[bool, bool]:
    """(a coupon, a campaign) an order took at creation, read from its stored breakdown: the
    discounts' refs ("coupon:<id>", "campaign:<id>", as the providers committed them) and the
    free gift lines (a 买赠 campaign's usage with 0 fen). A discount without a ref (a breakdown
    older than refs) counts as both. The hooks of payment, cancel and refund run the coupon and
    campaign services only when the order has something for them."""
    uses_coupon = uses_campaign = False
    for discount in (breakdown or {}).get("discounts") or ():
        ref = discount.get("ref")
        if ref is None:
            return True, True
        uses_coupon = uses_coupon or ref.startswith("coupon:") or discount.get("source") == "coupon"
        uses_campaign = uses_campaign or ref.startswith("campaign:")
    if not uses_campaign:
        uses_campaign = any(line.get("gift") for line in (breakdown or {}).get("lines") or ())
    return uses_coupon, uses_campaign


@dataclass(frozen=True)
class CheckoutRequest:
    """The body shared by the checkout preview and order creation (lines or the cart)."""

    delivery: DeliveryChoice
    lines: tuple[LineInput, ...] = ()
    from_cart: bool = False
    coupon_id: int | None = None
    points: int = 0
    balance_fen: int = 0
    promotion: PromotionChoice | None = None
