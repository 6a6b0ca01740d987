"""Campaign arithmetic (满减/满折, 限时折扣, N元N件, 买赠) and the best-combination search: pure
functions on frozen data, no queries. `marketing.providers.campaigns` loads the data and turns
the result into pricing Adjustments.

Conventions:
- money is int fen; rates are integer basis points of the price paid (9折 = 9000);
- each discount is given as exact per-line parts (`line_amounts`), every part capped by what
  the line has left and the total capped by the budget (what pricing lets the provider take),
  so Σ parts = the discount, to the fen;
- stacking is data: two campaigns may apply to the same line only when each lists the other's
  kind in `combinable_kinds` and they do not share a non-empty `stack_group`. In a combination,
  campaigns that may not combine split the lines between them (claim_lines: the narrower one
  first); the search tries every subset of the candidates, each with and without each coupon.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from mall.money import BASIS_POINTS, allocate_capped, mul_div_round_half_up

FULL_REDUCTION = "full_reduction"
FULL_DISCOUNT = "full_discount"
LIMITED_TIME = "limited_time"
N_FOR_PRICE = "n_for_price"
BUY_GIFT = "buy_gift"
KINDS = (FULL_REDUCTION, FULL_DISCOUNT, LIMITED_TIME, N_FOR_PRICE, BUY_GIFT)

SCOPE_ALL = "all"
SCOPE_CATEGORIES = "categories"
SCOPE_PRODUCTS = "products"

THRESHOLD_AMOUNT = "amount"
THRESHOLD_COUNT = "count"

# Which kinds may combine on the same line by default (symmetric); a campaign stores its own
# copy in `combinable_kinds`, which the merchant may narrow or widen. 满减 and 满折 are one
# family (one threshold offer per line); a price already cut (限时) keeps 满减/满折 but not
# N元N件 or 买赠 on top.
DEFAULT_COMBINABLE_KINDS: dict[str, frozenset[str]] = {
    LIMITED_TIME: frozenset({FULL_REDUCTION, FULL_DISCOUNT}),
    FULL_REDUCTION: frozenset({LIMITED_TIME, BUY_GIFT}),
    FULL_DISCOUNT: frozenset({LIMITED_TIME, BUY_GIFT}),
    N_FOR_PRICE: frozenset(),
    BUY_GIFT: frozenset({FULL_REDUCTION, FULL_DISCOUNT}),
}

# The order in which a combination's discounts are taken (each on what the previous left).
APPLY_ORDER = {FULL_REDUCTION: 0, FULL_DISCOUNT: 0, N_FOR_PRICE: 1, BUY_GIFT: 2}
SOURCE_OF_KIND = {k: k for k in KINDS}  # pricing sources are the kind names

# The search looks at most at this many candidate campaigns (highest priority first): 2^8
# subsets, each evaluated with and without each usable coupon, stays well under a millisecond
# per subset for carts of tens of lines.
MAX_CANDIDATES = 8


# --- data ---
@dataclass(frozen=True)
class TierData:
    threshold: int  # fen (amount) or units (count)
    reduce_fen: int = 0  # 满减
    rate_bp: int = BASIS_POINTS  # 满折: the rate paid, 9折 = 9000


@dataclass(frozen=True)
class ItemData:
    """A 限时折扣 SKU: a special price, or a rate of its price; 限购 per member (0 = none)."""

    sku_id: int
    price_fen: int | None = None
    rate_bp: int | None = None
    limit_per_member: int = 0

    def unit_price_fen(self, list_price_fen: int) -> int:
        if self.price_fen is not None:
            return min(self.price_fen, list_price_fen)
        rate = self.rate_bp if self.rate_bp is not None else BASIS_POINTS
        return min(mul_div_round_half_up(list_price_fen, rate, BASIS_POINTS), list_price_fen)


@dataclass(frozen=True)
class CampaignData:
    id: int
    name: str
    kind: str
    starts_at: datetime
    ends_at: datetime
    scope: str = SCOPE_ALL
    category_ids: frozenset[int] = frozenset()
    product_ids: frozenset[int] = frozenset()
    excluded_product_ids: frozenset[int] = frozenset()
    member_level_ids: frozenset[int] = frozenset()  # empty: everyone
    priority: int = 0
    stack_group: str = ""
    combinable_kinds: frozenset[str] = frozenset()
    stackable_with_coupons: bool = True
    threshold_type: str = THRESHOLD_AMOUNT
    is_repeat: bool = False  # 上不封顶: 每满 tier.threshold 减 tier.reduce_fen
    tiers: tuple[TierData, ...] = ()
    items: tuple[ItemData, ...] = ()
    bundle_quantity: int = 0  # N元N件: N units …
    bundle_price_fen: int = 0  # … for this price
    buy_quantity: int = 0  # 买赠: buy this many …
    gift_quantity: int = 0  # … of the same SKU, get this many more free
    gift_sku_id: int | None = None  # … or this many units of another SKU (a gift line)

    def is_live(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def is_eligible(self, level_id: int | None) -> bool:
        return not self.member_level_ids or level_id in self.member_level_ids

    def covers(self, *, product_id: int, category_ids: Sequence[int]) -> bool:
        if product_id in self.excluded_product_ids:
            return False
        if self.scope == SCOPE_PRODUCTS:
            return product_id in self.product_ids
        if self.scope == SCOPE_CATEGORIES:
            return any(c in self.category_ids for c in category_ids)
        return True

    def item_for(self, sku_id: int) -> ItemData | None:
        return next((item for item in self.items if item.sku_id == sku_id), None)


def combinable(a: CampaignData, b: CampaignData) -> bool:
    """May a and b both discount the same line?"""
    if a.id == b.id:
        return False
    if a.stack_group and a.stack_group == b.stack_group:
        return False
    return b.kind in a.combinable_kinds and a.kind in b.combinable_kinds


# --- allocation ---
# --- 限时折扣 ---
def limited_time_discount_fen(*, unit_price_fen: int, special_unit_fen: int, units: int) -> int:
    return max(0, unit_price_fen - special_unit_fen) * max(0, units)


# --- 满减 / 满折 ---
def reached_tier(campaign: CampaignData, *, amount_fen: int, count: int) -> TierData | None:
    """The highest tier reached (by amount or by units), or None."""
    value = count if campaign.threshold_type == THRESHOLD_COUNT else amount_fen
    reached = [tier for tier in campaign.tiers if tier.threshold <= value]
    return max(reached, key=lambda tier: tier.threshold, default=None)


def full_reduction_fen(campaign: CampaignData, *, amount_fen: int, count: int) -> int:
    """满300减50 / 满500减100: the highest tier reached; 上不封顶: 每满 threshold 减 reduce (the
    lowest tier repeated). Never more than the amount."""
    if campaign.is_repeat and campaign.tiers:
        tier = min(campaign.tiers, key=lambda t: t.threshold)
        value = count if campaign.threshold_type == THRESHOLD_COUNT else amount_fen
        times = value // tier.threshold if tier.threshold > 0 else 0
        return min(amount_fen, times * tier.reduce_fen)
    tier = reached_tier(campaign, amount_fen=amount_fen, count=count)
    return min(amount_fen, tier.reduce_fen) if tier else 0


def full_discount_fen(campaign: CampaignData, *, amount_fen: int, count: int) -> int:
    """满2件9折 / 满300元9折: amount − amount × rate, the price paid rounded half up."""
    tier = reached_tier(campaign, amount_fen=amount_fen, count=count)
    if tier is None:
        return 0
    paid = mul_div_round_half_up(amount_fen, tier.rate_bp, BASIS_POINTS)
    return max(0, amount_fen - paid)


# --- N元N件 ---
def n_for_price_parts(
    campaign: CampaignData, *, quantities: Sequence[int], lefts: Sequence[int]
) -> list[int]:
    """Any N units of the scope for X fen. The units put in bundles are the highest-priced
    ones (a unit's price = its line's goods left / quantity), which gives the shopper the most;
    bundles are made while a bundle of the next N units is worth more than X. Each line's part
    is its bundled units' value minus its share of the bundle prices (by value, exact)."""
    n, price = campaign.bundle_quantity, campaign.bundle_price_fen
    parts = [0] * len(quantities)
    if n <= 0:
        return parts
    units = sorted(
        (
            (Fraction(left, qty), i)
            for i, (qty, left) in enumerate(zip(quantities, lefts, strict=True))
            if qty > 0 and left > 0
            for _ in range(qty)
        ),
        key=lambda unit: (-unit[0], unit[1]),
    )
    bundled = [0] * len(quantities)  # units of each line in bundles
    bundles = 0
    for start in range(0, len(units) - n + 1, n):
        chunk = units[start : start + n]
        if sum(value for value, _ in chunk) <= price:
            break  # units are sorted: later bundles are worth even less
        bundles += 1
        for _, i in chunk:
            bundled[i] += 1
    if not bundles:
        return parts
    # The bundled units' value per line, exact to the fen: the line's left × k / quantity.
    values = [
        mul_div_round_half_up(lefts[i], bundled[i], quantities[i]) if bundled[i] else 0
        for i in range(len(quantities))
    ]
    discount = max(0, sum(values) - bundles * price)
    return allocate_capped(discount, values, values) if discount else parts


# --- 买赠 ---
def buy_gift_parts(
    campaign: CampaignData, *, quantities: Sequence[int], lefts: Sequence[int]
) -> list[int]:
    """买二送一 of the same SKU: of every buy+gift units of a line, gift units are free (their
    value = the line's left × free units / quantity)."""
    group = campaign.buy_quantity + campaign.gift_quantity
    parts = []
    for qty, left in zip(quantities, lefts, strict=True):
        free = (qty // group) * campaign.gift_quantity if group > 0 and qty > 0 else 0
        parts.append(mul_div_round_half_up(left, free, qty) if free else 0)
    return parts


# --- combinations ---
@dataclass(frozen=True)
class RuleLine:
    """A cart line as the search sees it. `left_fen` is what the line has left when the
    provider starts; `limited_campaign` the 限时 campaign that priced it (stacking), `is_special`
    a flash/group/points-mall price (left alone)."""

    sku_id: int
    product_id: int
    category_ids: tuple[int, ...]
    quantity: int
    left_fen: int
    limited_campaign: CampaignData | None = None
    is_special: bool = False


@dataclass(frozen=True)
class CouponOption:
    """A coupon the search may use: `evaluate(indexes, lefts)` answers (amount, weights per
    given line, unusable reason) for the lines it may apply to."""

    id: int
    name: str
    stackable_with_campaigns: bool
    evaluate: Callable[[Sequence[int], Sequence[int]], tuple[int, Sequence[int], str]]


@dataclass(frozen=True)
class Step:
    source: str
    name: str
    ref: str
    line_amounts: tuple[int, ...]
    campaign_id: int | None = None
    coupon_id: int | None = None

    @property
    def amount_fen(self) -> int:
        return sum(self.line_amounts)


@dataclass(frozen=True)
class Combination:
    steps: tuple[Step, ...] = ()
    coupon_id: int | None = None
    coupon_reason: str = ""  # why the coupon wanted was not used (no combination took it)

    @property
    def total_fen(self) -> int:
        return sum(step.amount_fen for step in self.steps)


def campaign_lines(campaign: CampaignData, lines: Sequence[RuleLine]) -> list[int]:
    """Indexes of the lines the campaign may discount: in scope, not special-priced, and
    combinable with the 限时 campaign that priced the line, if any."""
    found = []
    for i, line in enumerate(lines):
        if line.is_special or line.left_fen <= 0:
            continue
        if not campaign.covers(product_id=line.product_id, category_ids=line.category_ids):
            continue
        if line.limited_campaign is not None and not combinable(campaign, line.limited_campaign):
            continue
        found.append(i)
    return found


def _step_parts(
    campaign: CampaignData, idx: Sequence[int], lefts: Sequence[int], lines: Sequence[RuleLine]
) -> list[int]:
    """The campaign's parts on its lines (by index into idx), before the budget cap."""
    sub_lefts = [lefts[i] for i in idx]
    sub_qty = [lines[i].quantity for i in idx]
    if campaign.kind in (FULL_REDUCTION, FULL_DISCOUNT):
        amount = sum(sub_lefts)
        count = sum(sub_qty)
        fn = full_reduction_fen if campaign.kind == FULL_REDUCTION else full_discount_fen
        total = fn(campaign, amount_fen=amount, count=count)
        return allocate_capped(total, sub_lefts, sub_lefts) if total else [0] * len(idx)
    if campaign.kind == N_FOR_PRICE:
        return n_for_price_parts(campaign, quantities=sub_qty, lefts=sub_lefts)
    if campaign.kind == BUY_GIFT:
        return buy_gift_parts(campaign, quantities=sub_qty, lefts=sub_lefts)
    return [0] * len(idx)


def _capped(parts: list[int], lefts: list[int], budget: int) -> list[int]:
    """Parts capped by each line's left and their total by the budget (exact re-allocation)."""
    caps = [min(p, left) for p, left in zip(parts, lefts, strict=True)]
    total = min(sum(caps), max(0, budget))
    if total == sum(caps):
        return caps
    return allocate_capped(total, caps, caps)


def evaluate(
    campaigns: Sequence[CampaignData],
    lines: Sequence[RuleLine],
    *,
    budget_fen: int,
    coupon: CouponOption | None = None,
) -> tuple[tuple[Step, ...], str]:
    """Apply the campaigns in the defined order (满减/满折 → N元N件 → 买赠, then priority, then
    id), then the coupon, each on what the previous left. Returns (steps with a discount, the
    coupon's unusable reason or "")."""
    lefts = [line.left_fen for line in lines]
    spent = 0
    steps: list[Step] = []
    claims = claim_lines(campaigns, lines)
    ordered = sorted(campaigns, key=lambda c: (APPLY_ORDER.get(c.kind, 9), -c.priority, c.id))
    for campaign in ordered:
        idx = claims[campaign.id]
        if not idx:
            continue
        sub = _step_parts(campaign, idx, lefts, lines)
        sub = _capped(sub, [lefts[i] for i in idx], budget_fen - spent)
        if not sum(sub):
            continue
        amounts = [0] * len(lines)
        for i, part in zip(idx, sub, strict=True):
            amounts[i] = part
            lefts[i] -= part
        spent += sum(sub)
        steps.append(
            Step(
                source=SOURCE_OF_KIND[campaign.kind],
                name=campaign.name,
                ref=f"campaign:{campaign.id}",
                line_amounts=tuple(amounts),
                campaign_id=campaign.id,
            )
        )
    reason = ""
    if coupon is not None:
        idx = [
            i
            for i, line in enumerate(lines)
            if not line.is_special and lefts[i] > 0 and _coupon_may_use_line(coupon, line)
        ]
        amount, weights, reason = coupon.evaluate(idx, [lefts[i] for i in idx])
        if not reason and amount > 0 and idx:
            sub_lefts = [lefts[i] for i in idx]
            amount = min(amount, sum(sub_lefts), max(0, budget_fen - spent))
            weights = list(weights) if sum(weights) > 0 else sub_lefts
            sub = allocate_capped(amount, weights, sub_lefts) if amount else [0] * len(idx)
            if sum(sub):
                amounts = [0] * len(lines)
                for i, part in zip(idx, sub, strict=True):
                    amounts[i] = part
                steps.append(
                    Step(
                        source="coupon",
                        name=coupon.name,
                        ref=f"coupon:{coupon.id}",
                        line_amounts=tuple(amounts),
                        coupon_id=coupon.id,
                    )
                )
        elif not reason:
            reason = "未满足使用条件"
    return tuple(steps), reason


def _coupon_may_use_line(coupon: CouponOption, line: RuleLine) -> bool:
    limited = line.limited_campaign
    if limited is None:
        return True
    return limited.stackable_with_coupons and coupon.stackable_with_campaigns


def claim_lines(
    campaigns: Sequence[CampaignData], lines: Sequence[RuleLine]
) -> dict[int, list[int]]:
    """{campaign id: the lines it discounts} within a combination. Campaigns that may not
    combine never share a line: the narrower campaign (fewer lines in scope; then priority, then
    id) claims a line first, the broader one takes the lines left to it. So 满减 on everything
    and N元N件 on some products may run side by side in one order, each on its own lines (and
    the 满减's threshold counts only its own lines)."""
    covered = {c.id: campaign_lines(c, lines) for c in campaigns}
    claimed: dict[int, list[CampaignData]] = {}
    claims: dict[int, list[int]] = {}
    for campaign in sorted(campaigns, key=lambda c: (len(covered[c.id]), -c.priority, c.id)):
        mine = [
            i
            for i in covered[campaign.id]
            if all(combinable(other, campaign) for other in claimed.get(i, ()))
        ]
        for i in mine:
            claimed.setdefault(i, []).append(campaign)
        claims[campaign.id] = mine
    return claims


def valid_subsets(
    campaigns: Sequence[CampaignData], lines: Sequence[RuleLine]
) -> list[tuple[CampaignData, ...]]:
    """Every set of campaigns (the empty set too) in which each campaign gets a line of its own
    (claim_lines); a set where some campaign gets none is the same as the set without it."""
    found = []
    for size in range(len(campaigns) + 1):
        for subset in itertools.combinations(campaigns, size):
            claims = claim_lines(subset, lines)
            if all(claims[c.id] for c in subset):
                found.append(subset)
    return found


def best_combination(
    campaigns: Sequence[CampaignData],
    lines: Sequence[RuleLine],
    *,
    budget_fen: int,
    coupons: Sequence[CouponOption] = (),
    coupon_required: bool = False,
) -> Combination:
    """The combination of campaigns (and at most one coupon) that takes the most off; ties go
    to fewer discounts, then to the earlier candidate (higher priority campaigns, lower ids).
    A coupon not stackable with campaigns is tried alone, and a campaign not stackable with
    coupons is never combined with one. coupon_required: the shopper chose the (single) coupon
    in `coupons`; only combinations that use it count, and if none can, coupon_reason says why.
    """
    candidates = [c for c in campaigns if campaign_lines(c, lines)]
    candidates.sort(key=lambda c: (-c.priority, c.id))
    candidates = candidates[:MAX_CANDIDATES]
    options: list[CouponOption | None] = list(coupons)
    if not coupon_required:
        options.insert(0, None)
    best: tuple[tuple[int, int], Combination] | None = None
    reason = ""
    for subset in valid_subsets(candidates, lines):
        for coupon in options:
            if coupon is not None and subset:
                if not coupon.stackable_with_campaigns:
                    continue
                if not all(c.stackable_with_coupons for c in subset):
                    continue
            steps, why = evaluate(subset, lines, budget_fen=budget_fen, coupon=coupon)
            used_coupon = coupon is not None and any(s.coupon_id == coupon.id for s in steps)
            if coupon is not None and not used_coupon:
                reason = reason or why or "未满足使用条件"
                continue  # the same subset without a coupon is tried on its own
            combo = Combination(steps=steps, coupon_id=coupon.id if coupon else None)
            score = (combo.total_fen, -len(steps))
            if best is None or score > best[0]:
                best = (score, combo)
    if best is None:
        return Combination(coupon_reason=reason or "未满足使用条件")
    return best[1]
