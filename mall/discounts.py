"""The contract between the pricing function (orders.pricing) and its discount providers.

Providers live in lower apps (members: the level discount; marketing: promotions, coupons, flash
sales, group buys, the points mall), which must not import orders, so the types they build and
read are here: the DiscountProvider protocol (with its optional hooks, DiscountProviderHooks) and
the dataclasses. orders lists the providers it applies, in order, in orders/discount_providers.py.

Line attributes a provider may read: sku_id, product_id, category_ids (the product's category
and its ancestors), quantity, unit_price_fen, goods_fen (QuoteLine), discount_fen (QuoteLine,
what earlier providers took), goods_left_fen (QuoteLine), discount_parts (QuoteLine: ((source,
fen), …) of earlier providers).

What is given back when an unpaid order is cancelled or expires, and when a paid one is fully
refunded, is not a provider method: orders' `_order_release_benefits` and payments'
`_order_refunded_fully_locked` call the lower apps' services by name (imports point down).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class PricingChoices:
    """What the shopper chose at checkout that providers judge."""

    # None: the shopper did not choose; providers pick the best usable coupon (and say so with
    # Adjustment.auto). 0: the shopper chose no coupon. >0: this coupon of theirs.
    coupon_id: int | None = None
    points: int = 0
    promotion_kind: str | None = None  # "flash", "group_open", "group_join", "points_mall" …
    promotion_id: int | None = None

    @property
    def coupon_auto(self) -> bool:
        return self.coupon_id is None


@dataclass(frozen=True)
class Adjustment:
    """A named discount a provider offers. Give either line_weights (allocate amount_fen in
    proportion, e.g. only the eligible lines) or line_amounts (exact per-line parts); neither:
    in proportion to each line's goods left.

    ref names what the order takes ("coupon:12", "campaign:3", "flash:7"); it is kept in the
    order's breakdown. auto=True says the system chose it for the shopper (best combination).
    points_cost: points this adjustment costs the shopper (a points-mall exchange), added to the
    quote's points_used and spent with the order.
    """

    source: str
    name: str
    amount_fen: int
    line_weights: tuple[int, ...] | None = None
    line_amounts: tuple[int, ...] | None = None
    ref: str = ""
    auto: bool = False
    points_cost: int = 0


@dataclass(frozen=True)
class Gift:
    """A free gift line a provider adds (买赠 of another SKU): `ref` names the campaign."""

    sku_id: int
    quantity: int
    ref: str
    name: str = ""


@dataclass(frozen=True)
class PointsRule:
    """Points as a deduction at checkout: `points_per_yuan` points are worth 100 fen, and at most
    `max_percent` % of what is left to pay (goods after discounts + shipping) is paid by points."""

    points_per_yuan: int = 100
    max_percent: int = 50


# Sources of a special price (a flash sale, a group-buy price, a points-mall exchange): a line that
# has one is left alone by the providers after it (a special price does not stack).
SPECIAL_PRICE_SOURCES = frozenset({"flash_sale", "group_buy", "points_mall"})


class DiscountProvider(Protocol):
    """A discount price_cart applies (orders/discount_providers.py lists them, in order)."""

    key: str  # e.g. "level", "promotions"; an order line's stock_held_by when it holds stock

    def load(
        self, *, member: Any, lines: Sequence[Any], now: datetime, choices: PricingChoices
    ) -> Any:
        """Read what apply() needs (queries allowed); `lines` are PricingLine-like. Raise a
        DomainError (coupon_unavailable, promotion_unavailable, …) when a choice it judges
        cannot be used."""

    def apply(self, *, lines: Sequence[Any], loaded: Any, goods_left_fen: int) -> list[Adjustment]:
        """Pure: the adjustments for these QuoteLine-like lines, already discounted by the
        providers before this one."""


class DiscountProviderHooks(Protocol):
    """What a provider may also have; orders looks each up with getattr and skips it when
    missing."""

    handles_coupons: bool  # it judges `choices.coupon_id` (default False)
    promotion_kinds: frozenset[str]  # the `choices.promotion_kind`s it judges (default none)

    def commit(self, *, member: Any, order: Any, quote: Any, loaded: Any, now: datetime) -> None:
        """Inside order creation's transaction, after the order and its lines are written: take
        what the order uses (mark the coupon used, take flash stock, a group seat …) with
        conditional updates; a DomainError aborts the whole order."""

    def gift_lines(self, *, loaded: Any, lines: Sequence[Any]) -> list[Gift]:
        """Free gift lines (买赠 of another SKU), each added at price 0 while its stock lasts."""

    def apply_shipping(
        self, *, lines: Sequence[Any], loaded: Any, shipping_fen: int
    ) -> list[Adjustment]:
        """Pure: discounts on the shipping fee (a 运费券), each capped by the fee left."""

    def stock_held_skus(self, *, loaded: Any) -> frozenset[int]:
        """SKUs whose units the provider reserves itself (a flash pool): the normal stock check
        and reservation skip them."""

    def payment_timeout_s(self, *, loaded: Any) -> int | None:
        """A payment timeout shorter than the shop's for the order (a flash sale: 5 minutes)."""
