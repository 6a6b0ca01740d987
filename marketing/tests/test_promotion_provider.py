"""The campaign providers inside price_cart (no database): exact per-line parts, the order of the
discounts, caps that keep the payable ≥ 1 fen, special-priced lines left alone, auto coupons."""

from datetime import UTC, datetime, timedelta

import pytest

from mall.errors import CouponUnavailable
from marketing import campaign_rules as rules
from marketing.campaign_rules import CampaignData, ItemData, TierData
from marketing.coupon_rules import CouponData
from marketing.providers.campaigns import (
    LimitedLoaded,
    LimitedTimeProvider,
    PromotionLoaded,
    PromotionProvider,
)
from marketing.services.campaigns import LimitedOffer
from orders.pricing import (
    Adjustment,
    DeliveryInfo,
    LoadedDiscount,
    PricingInputs,
    PricingLine,
    price_cart,
)

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
PICKUP = DeliveryInfo(type="pickup", pickup_point_id=1)


def campaign(id, kind, **fields):
    fields.setdefault("combinable_kinds", rules.DEFAULT_COMBINABLE_KINDS[kind])
    return CampaignData(
        id=id,
        name=fields.pop("name", f"活动{id}"),
        kind=kind,
        starts_at=NOW - timedelta(hours=1),
        ends_at=NOW + timedelta(hours=1),
        **fields,
    )


def line(sku_id, price, qty=1, categories=()):
    return PricingLine(
        sku_id=sku_id,
        product_id=sku_id,
        quantity=qty,
        unit_price_fen=price,
        weight_g=0,
        freight_template_id=None,
        title="",
        spec_text="",
        image_url="",
        category_ids=tuple(categories),
    )


def coupon(id=5, amount=3000, threshold=0, stackable=True):
    return CouponData(
        id=id,
        template_id=1,
        name=f"券{id}",
        kind="full_reduction",
        threshold_fen=threshold,
        amount_fen=amount,
        stackable_with_campaigns=stackable,
    )


class Flash:
    """A flash price of 1 元 on SKU 99 (a special price the campaigns leave alone)."""

    key = "flash"

    def apply(self, *, lines, loaded, goods_left_fen):
        amounts = tuple(
            line.goods_fen - 100 * line.quantity if line.sku_id == 99 else 0 for line in lines
        )
        return [Adjustment("flash_sale", "秒杀价", sum(amounts), line_amounts=amounts)]


def quote(lines, *, limited=None, campaigns=(), coupons=(), required=False, flash=False):
    discounts = []
    if flash:
        discounts.append(LoadedDiscount(provider=Flash(), loaded=None))
    limited = limited or {}
    discounts.append(
        LoadedDiscount(provider=LimitedTimeProvider(), loaded=LimitedLoaded(offers=limited))
    )
    discounts.append(
        LoadedDiscount(
            provider=PromotionProvider(),
            loaded=PromotionLoaded(
                campaigns=tuple(campaigns),
                limited_by_sku={sku: offer.campaign for sku, offer in limited.items()},
                coupons=tuple(coupons),
                coupon_required=required,
                coupon_auto=not required,
            ),
        )
    )
    return price_cart(
        PricingInputs(lines=tuple(lines), delivery=PICKUP, discounts=tuple(discounts))
    )


def assert_exact(q):
    for source in {d.source for d in q.discounts}:
        total = sum(d.amount_fen for d in q.discounts if d.source == source)
        assert sum(fen for ln in q.lines for s, fen in ln.discount_parts if s == source) == total
    assert sum(ln.paid_fen for ln in q.lines) == q.payable_fen
    assert all(ln.paid_fen >= 0 for ln in q.lines)


def test_order_of_discounts_and_parts_exact():
    # given: 限时 8折 on SKU 1; 满300减50 (stacks with 限时); 任选2件50元 on SKU 3; a 10 元 coupon
    sale = campaign(1, rules.LIMITED_TIME, items=(ItemData(1, rate_bp=8000),))
    full = campaign(2, rules.FULL_REDUCTION, tiers=(TierData(30000, reduce_fen=5000),))
    bundle = campaign(
        3,
        rules.N_FOR_PRICE,
        scope=rules.SCOPE_PRODUCTS,
        product_ids=frozenset({3}),
        bundle_quantity=2,
        bundle_price_fen=5000,
    )
    lines = [line(1, 19999, 1), line(2, 15001, 1), line(3, 3333, 2)]
    offers = {1: LimitedOffer(sale, 15999, 1)}
    # when
    q = quote(lines, limited=offers, campaigns=[full, bundle], coupons=[coupon(amount=1000)])
    # then
    assert [(d.source, d.amount_fen, d.ref, d.auto) for d in q.discounts] == [
        ("limited_time", 4000, "campaign:1", False),
        ("full_reduction", 5000, "campaign:2", False),
        ("n_for_price", 1666, "campaign:3", False),
        ("coupon", 1000, "coupon:5", True),
    ]
    assert_exact(q)
    # 满减 does not reach the bundled SKU 3 (N元N件 combines with nothing), so it is split
    # between lines 1 and 2 by what they had left (15999 : 15001)
    parts = [dict(ln.discount_parts).get("full_reduction", 0) for ln in q.lines]
    assert parts == [2580, 2420, 0]


def test_a_free_order_attempt_is_capped_at_one_fen():
    # given: 买一送一 on 2 × 100 元 plus a 500 元 coupon
    gift = campaign(1, rules.BUY_GIFT, buy_quantity=1, gift_quantity=1)
    q = quote([line(1, 10000, 2)], campaigns=[gift], coupons=[coupon(amount=50000)])
    # then: the coupon alone takes as much (all but 1 fen) with fewer discounts
    assert q.payable_fen == 1
    assert [(d.ref, d.amount_fen) for d in q.discounts] == [("coupon:5", 19999)]
    assert_exact(q)


def test_special_priced_lines_are_left_alone():
    full = campaign(1, rules.FULL_REDUCTION, tiers=(TierData(100, reduce_fen=50),))
    q = quote(
        [line(99, 5000), line(2, 5000)], campaigns=[full], coupons=[coupon(amount=70)], flash=True
    )
    flash_line, other = q.lines
    assert [s for s, _ in flash_line.discount_parts] == ["flash_sale"]
    assert dict(other.discount_parts) == {"full_reduction": 50, "coupon": 70}
    assert_exact(q)


def test_chosen_coupon_below_threshold_after_campaigns_is_refused():
    # given: 满300减50 is the better side, but the shopper chose the 满300减30 coupon; with a
    # coupon chosen, the combination must use it: the coupon alone
    full = campaign(1, rules.FULL_REDUCTION, tiers=(TierData(30000, reduce_fen=5000),))
    chosen = coupon(amount=3000, threshold=30000)
    q = quote([line(1, 30000)], campaigns=[full], coupons=[chosen], required=True)
    assert [(d.ref, d.auto) for d in q.discounts] == [("coupon:5", False)]
    # and a coupon no combination can use is refused with the reason
    with pytest.raises(CouponUnavailable) as exc:
        quote([line(1, 20000)], campaigns=[], coupons=[chosen], required=True)
    assert "满300" in exc.value.message


def test_limited_time_units_beyond_the_limit_pay_the_normal_price():
    sale = campaign(1, rules.LIMITED_TIME, items=(ItemData(1, price_fen=1500, limit_per_member=2),))
    q = quote([line(1, 1999, 5)], limited={1: LimitedOffer(sale, 1500, 2)})
    assert [(d.source, d.amount_fen) for d in q.discounts] == [("limited_time", 998)]
    assert q.payable_fen == 5 * 1999 - 998
