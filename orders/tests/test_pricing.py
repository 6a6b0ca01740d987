"""price_cart is pure: these tests build PricingInputs by hand, no database."""

import pytest

from mall.errors import (
    BalanceUnavailable,
    DeliveryUnavailable,
    PointsUnavailable,
)
from mall.money import allocate_capped
from orders.pricing import (
    DeliveryInfo,
    FreightRuleData,
    FreightTemplateData,
    LoadedDiscount,
    PointsRule,
    PricingInputs,
    PricingLine,
    price_cart,
    quote_as_breakdown,
)
from orders.tests.providers import FirstLineOff, HugeVoucher, TenPercentOff

EXPRESS_ZJ = DeliveryInfo(type="express", province="浙江省")
PICKUP = DeliveryInfo(type="pickup", pickup_point_id=1)


def line(sku_id, price, qty=1, weight_g=0, template=None):
    return PricingLine(
        sku_id=sku_id,
        product_id=sku_id,
        quantity=qty,
        unit_price_fen=price,
        weight_g=weight_g,
        freight_template_id=template,
        title=f"商品{sku_id}",
        spec_text="",
        image_url="",
    )


def by_piece(template_id=1, free_over=None, regions=()):
    rules = (
        FreightRuleData(
            regions=(), first_units=1, first_fee_fen=1000, extra_units=1, extra_fee_fen=500
        ),
    )
    if regions:
        rules = (
            FreightRuleData(
                regions=tuple(regions),
                first_units=1,
                first_fee_fen=2000,
                extra_units=2,
                extra_fee_fen=800,
            ),
            *rules,
        )
    return FreightTemplateData(
        id=template_id, name="按件", charge_by="piece", free_over_fen=free_over, rules=rules
    )


def by_weight(template_id=2):
    rule = FreightRuleData(
        regions=(), first_units=1000, first_fee_fen=800, extra_units=500, extra_fee_fen=300
    )
    return FreightTemplateData(
        id=template_id, name="按重", charge_by="weight", free_over_fen=None, rules=(rule,)
    )


def inputs(lines, delivery=EXPRESS_ZJ, templates=(), default=None, providers=(), **kwargs):
    return PricingInputs(
        lines=tuple(lines),
        delivery=delivery,
        freight_templates=tuple(templates),
        default_freight_template_id=default,
        discounts=tuple(
            LoadedDiscount(
                provider=p, loaded=p.load(member=None, lines=lines, now=None, choices=None)
            )
            for p in providers
        ),
        **kwargs,
    )


def assert_consistent(quote):
    breakdown = quote_as_breakdown(quote)
    assert breakdown["payable_fen"] == (
        breakdown["goods_fen"]
        - sum(d["amount_fen"] for d in breakdown["discounts"])
        + breakdown["shipping_fen"]
        - breakdown["points_fen"]
    )
    assert sum(x["paid_fen"] for x in breakdown["lines"]) == breakdown["payable_fen"]
    # A line's discount_fen holds its share of every discount and of the points deduction.
    assert sum(x["discount_fen"] for x in breakdown["lines"]) == (
        sum(d["amount_fen"] for d in breakdown["discounts"]) + breakdown["points_fen"]
    )
    assert all(x["paid_fen"] >= 0 and x["discount_fen"] >= 0 for x in breakdown["lines"])
    assert breakdown["wechat_pay_fen"] == breakdown["payable_fen"] - breakdown["balance_fen"]


def test_no_templates_no_discounts_pays_the_goods():
    # given
    lines = [line(1, 1999, 2), line(2, 500)]
    # when
    quote = price_cart(inputs(lines))
    # then
    assert quote_as_breakdown(quote) == {
        "goods_fen": 4498,
        "discounts": [],
        "shipping_fen": 0,
        "points_used": 0,
        "points_fen": 0,
        "balance_fen": 0,
        "payable_fen": 4498,
        "wechat_pay_fen": 4498,
        "lines": [
            {
                "sku_id": 1,
                "quantity": 2,
                "unit_price_fen": 1999,
                "discount_fen": 0,
                "paid_fen": 3998,
                "gift": False,
            },
            {
                "sku_id": 2,
                "quantity": 1,
                "unit_price_fen": 500,
                "discount_fen": 0,
                "paid_fen": 500,
                "gift": False,
            },
        ],
    }


@pytest.mark.parametrize(
    ("quantity", "province", "expected_shipping"),
    [
        (1, "浙江省", 1000),  # first piece
        (3, "浙江省", 2000),  # + 2 extra pieces × 500
        (1, "新疆维吾尔自治区", 2000),  # regional rule: first piece 2000
        (4, "新疆维吾尔自治区", 3600),  # 3 extra pieces in steps of 2 → 2 steps × 800
    ],
)
def test_freight_by_piece_and_region(quantity, province, expected_shipping):
    # given
    template = by_piece(regions=["新疆维吾尔自治区", "西藏自治区"])
    delivery = DeliveryInfo(type="express", province=province)
    # when
    quote = price_cart(
        inputs([line(1, 1000, quantity)], delivery=delivery, templates=[template], default=1)
    )
    # then
    assert quote.shipping_fen == expected_shipping
    assert_consistent(quote)


@pytest.mark.parametrize(
    ("weight_g", "quantity", "expected_shipping"),
    [(0, 1, 800), (1000, 1, 800), (1001, 1, 1100), (700, 3, 1700)],  # 2100 g: 800 + 3 × 300
)
def test_freight_by_weight(weight_g, quantity, expected_shipping):
    quote = price_cart(
        inputs([line(1, 1000, quantity, weight_g=weight_g, template=2)], templates=[by_weight()])
    )
    assert quote.shipping_fen == expected_shipping


def test_each_template_group_is_charged_and_free_over_uses_goods_after_discounts():
    # given: template 1 is free over 50 元; its goods are 52 元 before a 10% discount (46.80 after)
    lines = [line(1, 2600, 2, template=1), line(2, 1000, 1, weight_g=1200, template=2)]
    templates = [by_piece(free_over=5000), by_weight()]
    # when
    without_discount = price_cart(inputs(lines, templates=templates))
    with_discount = price_cart(inputs(lines, templates=templates, providers=[TenPercentOff()]))
    # then: free over 50 元 before the discount, charged after it
    assert without_discount.shipping_fen == 1100  # weight group only
    assert with_discount.shipping_fen == 1100 + 1500  # piece group: 1000 + 500
    assert_consistent(with_discount)


def test_pickup_has_no_shipping():
    quote = price_cart(
        inputs([line(1, 1000, 3, template=1)], delivery=PICKUP, templates=[by_piece()])
    )
    assert quote.shipping_fen == 0


def test_region_without_rule_is_not_deliverable():
    template = FreightTemplateData(
        id=1,
        name="仅江浙沪",
        charge_by="piece",
        free_over_fen=None,
        rules=(
            FreightRuleData(
                regions=("浙江省",), first_units=1, first_fee_fen=0, extra_units=1, extra_fee_fen=0
            ),
        ),
    )
    delivery = DeliveryInfo(type="express", province="西藏自治区")
    with pytest.raises(DeliveryUnavailable):
        price_cart(inputs([line(1, 1000)], delivery=delivery, templates=[template], default=1))


def test_providers_apply_in_order_and_allocate_to_lines():
    # given
    lines = [line(1, 1000), line(2, 2000), line(3, 3001)]
    # when: 3 元 off the first line, then 10% off what is left
    quote = price_cart(inputs(lines, providers=[FirstLineOff(), TenPercentOff()]))
    # then
    assert [(d.source, d.amount_fen) for d in quote.discounts] == [
        ("test_first", 300),
        ("test", 570),
    ]
    first, second, third = quote.lines
    assert first.discount_parts == (("test_first", 300), ("test", 69))
    assert second.discount_parts == (("test", 199),)
    assert third.discount_parts == (("test", 302),)  # the last line takes the remainder
    assert_consistent(quote)


def test_discount_is_capped_and_leaves_one_fen_for_wechat_pay():
    # given
    lines = [line(1, 300), line(2, 300), line(3, 100)]
    # when
    quote = price_cart(inputs(lines, providers=[HugeVoucher(), TenPercentOff()]))
    # then
    assert quote.payable_fen == 1
    assert [(d.source, d.amount_fen) for d in quote.discounts] == [
        ("test_huge", 699)
    ]  # 10% of 1 fen rounds to 0
    assert_consistent(quote)


def test_shipping_is_allocated_to_lines_so_lines_add_up_to_payable():
    lines = [line(1, 333), line(2, 333), line(3, 334)]
    quote = price_cart(
        inputs(lines, templates=[by_piece()], default=1, providers=[TenPercentOff()])
    )
    assert quote.shipping_fen == 2000
    assert [x.shipping_fen for x in quote.lines] == [666, 666, 668]
    assert_consistent(quote)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"points": -1}, PointsUnavailable),
        ({"balance_fen": -1}, BalanceUnavailable),
    ],
)
def test_negative_choices_are_refused(kwargs, error):
    with pytest.raises(error):
        price_cart(inputs([line(1, 1000)], **kwargs))


@pytest.mark.parametrize(
    ("total", "weights", "caps"),
    [
        (6, [3, 3, 1], [3, 3, 1]),
        (10, [1, 0, 0], [4, 4, 4]),
        (7, [0, 0, 0], [3, 3, 1]),
        (0, [1, 1], [0, 0]),
    ],
)
def test_allocate_capped_never_exceeds_a_line(total, weights, caps):
    parts = allocate_capped(total, weights, caps)
    assert sum(parts) == total
    assert all(0 <= part <= cap for part, cap in zip(parts, caps, strict=True))


@pytest.mark.parametrize(
    ("requested", "member_balance", "used", "wechat"),
    [
        (0, 5000, 0, 1000),
        (300, 5000, 300, 700),
        (300, 200, 200, 800),  # capped by the member's balance
        (5000, 5000, 1000, 0),  # capped by the payable: paid fully by balance
        (999, 5000, 999, 1),  # the rest, even 1 fen, goes to WeChat
    ],
)
def test_stored_value_is_capped_by_balance_and_payable(requested, member_balance, used, wechat):
    # given / when
    quote = price_cart(
        inputs([line(1, 1000)], balance_fen=requested, member_balance_fen=member_balance)
    )
    # then
    assert (quote.payable_fen, quote.balance_fen, quote.wechat_pay_fen) == (1000, used, wechat)
    assert quote_as_breakdown(quote)["balance_fen"] == used


@pytest.mark.parametrize(
    ("requested", "balance", "rule", "expected"),
    [
        # 100 points = 1 yuan, up to 50 % of the 1,000 fen left to pay
        (300, 1000, PointsRule(100, 50), (300, 300)),
        (5000, 5000, PointsRule(100, 50), (500, 500)),  # capped at 50 %
        (5000, 200, PointsRule(100, 50), (200, 200)),  # capped by the balance
        (250, 1000, PointsRule(1000, 50), (25, 250)),  # 10 points per fen
        (255, 1000, PointsRule(1000, 50), (25, 250)),  # a part of a fen is not taken
        (9, 1000, PointsRule(1000, 50), (0, 0)),  # worth less than a fen
        (150, 1000, PointsRule(300, 50), (50, 150)),  # 300 points per yuan
    ],
)
def test_points_pay_whole_fen_capped_by_balance_and_percent(requested, balance, rule, expected):
    lines = [line(1, 600), line(2, 400)]
    quote = price_cart(
        inputs(
            lines,
            delivery=PICKUP,
            points=requested,
            member_points_balance=balance,
            points_rule=rule,
        )
    )
    assert (quote.points_fen, quote.points_used) == expected
    assert quote.payable_fen == 1000 - expected[0]
    assert_consistent(quote)


def test_points_never_pay_everything():
    quote = price_cart(
        inputs(
            [line(1, 10)],
            delivery=PICKUP,
            points=10**6,
            member_points_balance=10**6,
            points_rule=PointsRule(points_per_yuan=1, max_percent=100),
        )
    )
    assert quote.points_fen == 9
    assert quote.payable_fen == 1
    assert_consistent(quote)
