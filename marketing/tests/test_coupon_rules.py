"""coupon_evaluate: each kind's arithmetic (to the fen), scope, exclusions, special prices."""

from dataclasses import dataclass

import pytest

from marketing.coupon_rules import CouponData, coupon_evaluate


@dataclass(frozen=True)
class Line:
    sku_id: int
    product_id: int
    unit_price_fen: int
    quantity: int
    category_ids: tuple[int, ...] = ()
    discount_fen: int = 0
    discount_parts: tuple[tuple[str, int], ...] = ()

    @property
    def goods_fen(self) -> int:
        return self.unit_price_fen * self.quantity

    @property
    def goods_left_fen(self) -> int:
        return self.goods_fen - self.discount_fen


def coupon(**fields) -> CouponData:
    return CouponData(**({"id": 1, "template_id": 1, "name": "券"} | fields))


TEA = Line(sku_id=11, product_id=1, unit_price_fen=10000, quantity=1, category_ids=(5, 2))
CUP = Line(sku_id=21, product_id=2, unit_price_fen=2999, quantity=2, category_ids=(7, 3))


def test_full_reduction_needs_the_threshold_on_eligible_goods():
    # given 满100减30 on category 2 (the tea's parent category)
    c = coupon(
        kind="full_reduction",
        threshold_fen=10000,
        amount_fen=3000,
        scope="categories",
        category_ids=(2,),
    )
    # when
    result = coupon_evaluate(c, [TEA, CUP])
    # then
    assert (result.amount_fen, result.line_weights, result.unusable_reason) == (
        3000,
        (10000, 0),
        None,
    )
    short = coupon_evaluate(c, [Line(11, 1, 9999, 1, (5, 2)), CUP])
    assert short.amount_fen == 0
    assert short.unusable_reason == "适用商品满100.00元可用，还差0.01元"


def test_full_reduction_never_exceeds_what_is_left():
    c = coupon(kind="full_reduction", threshold_fen=0, amount_fen=50000)
    assert coupon_evaluate(c, [TEA]).amount_fen == 10000


@pytest.mark.parametrize(
    ("goods", "rate", "cap", "expected"),
    [
        (1999, 8500, 0, 300),  # 1999 × 15% = 299.85 → 300
        (1990, 8500, 0, 299),  # 298.5 → 299 (half up)
        (1, 5000, 0, 1),  # 0.5 → 1: half up, still capped by the goods
        (100000, 8500, 5000, 5000),  # 15000 capped at 50 元
        (3333, 9900, 0, 33),  # 33.33 → 33
    ],
)
def test_discount_rate_rounds_half_up_to_the_fen_and_is_capped(goods, rate, cap, expected):
    c = coupon(kind="discount", rate_bp=rate, cap_fen=cap)
    assert coupon_evaluate(c, [Line(1, 1, goods, 1)]).amount_fen == expected


def test_discount_rate_on_goods_left_after_earlier_discounts():
    line = Line(1, 1, 10000, 1, discount_fen=2000, discount_parts=(("full_reduction", 2000),))
    c = coupon(kind="discount", rate_bp=8000)
    assert coupon_evaluate(c, [line]).amount_fen == 1600


def test_cash_coupon_has_no_threshold():
    c = coupon(kind="cash", amount_fen=500)
    result = coupon_evaluate(c, [Line(1, 1, 1, 1)])
    assert result.amount_fen == 1  # capped by the goods; pricing keeps 1 fen to pay
    assert coupon_evaluate(c, [TEA, CUP]).line_weights == (10000, 5998)


def test_scope_products_and_exclusions():
    only_cup = coupon(kind="cash", amount_fen=500, scope="products", product_ids=(2,))
    assert coupon_evaluate(only_cup, [TEA, CUP]).line_weights == (0, 5998)
    all_but_tea = coupon(kind="cash", amount_fen=500, excluded_product_ids=(1,))
    assert coupon_evaluate(all_but_tea, [TEA, CUP]).line_weights == (0, 5998)
    nothing = coupon(kind="cash", amount_fen=500, scope="products", product_ids=(9,))
    result = coupon_evaluate(nothing, [TEA, CUP])
    assert (result.amount_fen, result.unusable_reason) == (0, "本单没有适用此券的商品")


def test_category_scope_covers_descendants():
    # the cup is in category 7 whose parent is 3: a coupon on 3 applies
    c = coupon(kind="cash", amount_fen=500, scope="categories", category_ids=(3,))
    assert coupon_evaluate(c, [TEA, CUP]).line_weights == (0, 5998)


def test_special_priced_lines_take_no_coupon():
    flash = Line(1, 1, 10000, 1, discount_fen=5000, discount_parts=(("flash_sale", 5000),))
    c = coupon(kind="cash", amount_fen=500)
    assert coupon_evaluate(c, [flash, CUP]).line_weights == (0, 5998)
    assert not coupon_evaluate(c, [flash]).usable


def test_exchange_coupon_gives_one_unit_of_its_sku():
    c = coupon(kind="exchange", sku_id=21)
    result = coupon_evaluate(c, [TEA, CUP])
    assert (result.amount_fen, result.line_weights) == (2999, (0, 1))
    # after an earlier discount of 1 fen on the 2 cups, the unit left is worth 2998.5 → 2999
    discounted = Line(21, 2, 2999, 2, discount_fen=1)
    assert coupon_evaluate(c, [discounted]).amount_fen == 2999
    assert coupon_evaluate(c, [TEA]).unusable_reason == "本单没有可兑换的商品"


def test_shipping_coupon_covers_the_fee_hint():
    up_to_5 = coupon(kind="shipping", amount_fen=500)
    assert coupon_evaluate(up_to_5, [TEA], shipping_hint_fen=800).amount_fen == 500
    assert coupon_evaluate(up_to_5, [TEA], shipping_hint_fen=300).amount_fen == 300
    free = coupon(kind="shipping", amount_fen=0)
    assert coupon_evaluate(free, [TEA], shipping_hint_fen=1200).amount_fen == 1200
    # no hint (the provider runs before shipping is known): worth 0, still usable
    result = coupon_evaluate(free, [TEA])
    assert (result.amount_fen, result.usable) == (0, True)
