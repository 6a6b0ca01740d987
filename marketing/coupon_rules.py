"""What a coupon is worth on a set of lines: pure functions, no queries.

The campaigns' PromotionProvider loads the member's usable coupons (marketing.services.coupons:
`coupons_usable_load`, `coupon_data_for_member`) and asks `coupon_evaluate` what each is worth on
the lines left after the providers before it; the best combination is its business. Lines are
QuoteLine-like (mall/discounts.py): sku_id, product_id, category_ids, unit_price_fen, quantity,
goods_left_fen, discount_parts. A line priced by a special-price promotion (flash sale, group
buy, points mall) never takes a coupon.

Rounding: a 折扣券's discount is eligible × (10000 − rate_bp) / 10000 rounded half up to the fen, then
capped by cap_fen; every amount is capped by what the eligible lines have left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mall.discounts import SPECIAL_PRICE_SOURCES
from mall.money import BASIS_POINTS, mul_div_round_half_up, yuan

# Template kinds and scopes (the values of CouponTemplate.Kind / .Scope).
FULL_REDUCTION = "full_reduction"
DISCOUNT = "discount"
CASH = "cash"
EXCHANGE = "exchange"
SHIPPING = "shipping"
SCOPE_ALL = "all"
SCOPE_CATEGORIES = "categories"
SCOPE_PRODUCTS = "products"


@dataclass(frozen=True)
class CouponData:
    """A snapshot of one issued coupon with its template's rules."""

    id: int
    template_id: int
    name: str
    kind: str
    threshold_fen: int = 0
    amount_fen: int = 0
    rate_bp: int = BASIS_POINTS  # 折扣券: the rate paid, 85折 = 8500
    cap_fen: int = 0  # 0: no cap
    sku_id: int | None = None
    scope: str = SCOPE_ALL
    category_ids: tuple[int, ...] = ()
    product_ids: tuple[int, ...] = ()
    excluded_product_ids: tuple[int, ...] = ()
    stackable_with_campaigns: bool = True
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    @property
    def ref(self) -> str:
        """What an order's breakdown names it by (Adjustment.ref)."""
        return f"coupon:{self.id}"


@dataclass(frozen=True)
class CouponResult:
    """amount_fen: the discount (0 when unusable). line_weights: how to allocate it (the eligible
    lines' goods left; 0 for the others), None for a 运费券. unusable_reason: Chinese text for the
    shopper, None when usable."""

    amount_fen: int
    line_weights: tuple[int, ...] | None = None
    unusable_reason: str | None = None

    @property
    def usable(self) -> bool:
        return self.unusable_reason is None


def line_is_special_priced(line: Any) -> bool:
    return any(source in SPECIAL_PRICE_SOURCES for source, _ in getattr(line, "discount_parts", ()))


def line_in_scope(coupon: CouponData, line: Any) -> bool:
    """The coupon's scope covers this line (a category covers its descendants: a line's
    category_ids are its product's category and that category's ancestors)."""
    if line.product_id in coupon.excluded_product_ids:
        return False
    if coupon.scope == SCOPE_CATEGORIES:
        return bool(set(coupon.category_ids).intersection(line.category_ids))
    if coupon.scope == SCOPE_PRODUCTS:
        return line.product_id in coupon.product_ids
    return True


def coupon_line_weights(coupon: CouponData, lines: Sequence[Any]) -> tuple[int, ...]:
    """Each line's goods left if the coupon may discount it, else 0."""
    return tuple(
        line.goods_left_fen
        if line.goods_left_fen > 0
        and not line_is_special_priced(line)
        and line_in_scope(coupon, line)
        else 0
        for line in lines
    )


def coupon_evaluate(
    coupon: CouponData, lines: Sequence[Any], *, shipping_hint_fen: int = 0
) -> CouponResult:
    """What the coupon takes off these lines, or why it cannot be used on them.

    A 运费券 is worth min(amount_fen or the whole fee, shipping_hint_fen): with no hint (the
    provider runs before shipping is known) it is worth 0 but still usable.
    """
    if coupon.kind == EXCHANGE:
        return _exchange(coupon, lines)
    weights = coupon_line_weights(coupon, lines)
    eligible_fen = sum(weights)
    if eligible_fen <= 0:
        return CouponResult(0, None, "本单没有适用此券的商品")
    if eligible_fen < coupon.threshold_fen:
        short = coupon.threshold_fen - eligible_fen
        return CouponResult(
            0, None, f"适用商品满{yuan(coupon.threshold_fen)}元可用，还差{yuan(short)}元"
        )
    if coupon.kind in (FULL_REDUCTION, CASH):
        amount = min(coupon.amount_fen, eligible_fen)
    elif coupon.kind == DISCOUNT:
        amount = mul_div_round_half_up(eligible_fen, BASIS_POINTS - coupon.rate_bp, BASIS_POINTS)
        if coupon.cap_fen:
            amount = min(amount, coupon.cap_fen)
        amount = min(amount, eligible_fen)
    elif coupon.kind == SHIPPING:
        fee = max(0, shipping_hint_fen)
        amount = min(coupon.amount_fen, fee) if coupon.amount_fen else fee
        return CouponResult(amount, None, None)
    else:
        return CouponResult(0, None, "不支持的优惠券类型")
    return CouponResult(amount, weights, None)


def _exchange(coupon: CouponData, lines: Sequence[Any]) -> CouponResult:
    """兑换券: one unit of the coupon's SKU free (what that unit has left after earlier
    discounts: the line's goods left divided by its quantity, rounded half up)."""
    for i, line in enumerate(lines):
        if line.sku_id != coupon.sku_id or line.quantity <= 0:
            continue
        if line_is_special_priced(line) or line.product_id in coupon.excluded_product_ids:
            break
        amount = min(
            mul_div_round_half_up(line.goods_left_fen, 1, line.quantity), line.goods_left_fen
        )
        if amount <= 0:
            break
        weights = tuple(1 if j == i else 0 for j in range(len(lines)))
        return CouponResult(amount, weights, None)
    return CouponResult(0, None, "本单没有可兑换的商品")
