"""Campaign arithmetic and the best-combination search: pure, no database."""

from datetime import UTC, datetime, timedelta

import pytest

from marketing import campaign_rules as rules
from marketing.campaign_rules import (
    CampaignData,
    CouponOption,
    ItemData,
    RuleLine,
    TierData,
    best_combination,
    buy_gift_parts,
    evaluate,
    full_discount_fen,
    full_reduction_fen,
    n_for_price_parts,
)

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def campaign(id=1, kind=rules.FULL_REDUCTION, **fields):
    fields.setdefault("combinable_kinds", rules.DEFAULT_COMBINABLE_KINDS[kind])
    return CampaignData(
        id=id,
        name=fields.pop("name", f"活动{id}"),
        kind=kind,
        starts_at=NOW - timedelta(hours=1),
        ends_at=NOW + timedelta(hours=1),
        **fields,
    )


def line(sku_id, price, qty=1, *, product_id=None, categories=(), limited=None, special=False):
    return RuleLine(
        sku_id=sku_id,
        product_id=product_id or sku_id,
        category_ids=tuple(categories),
        quantity=qty,
        left_fen=price * qty,
        limited_campaign=limited,
        is_special=special,
    )


MANJIAN = campaign(
    1, tiers=(TierData(30000, reduce_fen=5000), TierData(50000, reduce_fen=10000)), name="满减"
)


# --- 满减 ---
@pytest.mark.parametrize(
    ("amount", "expected"), [(29999, 0), (30000, 5000), (49999, 5000), (50000, 10000)]
)
def test_full_reduction_takes_the_highest_tier_reached(amount, expected):
    assert full_reduction_fen(MANJIAN, amount_fen=amount, count=1) == expected


def test_full_reduction_repeat_each_threshold():
    repeat = campaign(is_repeat=True, tiers=(TierData(30000, reduce_fen=5000),))
    assert full_reduction_fen(repeat, amount_fen=89999, count=1) == 10000
    assert full_reduction_fen(repeat, amount_fen=90000, count=1) == 15000


def test_full_reduction_by_count():
    by_count = campaign(threshold_type=rules.THRESHOLD_COUNT, tiers=(TierData(3, reduce_fen=700),))
    assert full_reduction_fen(by_count, amount_fen=1000, count=2) == 0
    assert full_reduction_fen(by_count, amount_fen=1000, count=3) == 700


def test_full_reduction_allocated_exactly_to_eligible_lines():
    # given: 满300减50 on three lines of 100.01, 100.01, 100.00 and one excluded line
    lines = [line(1, 10001), line(2, 10001), line(3, 10000), line(4, 99999)]
    c = campaign(tiers=(TierData(30000, reduce_fen=5000),), excluded_product_ids=frozenset({4}))
    # when
    steps, _ = evaluate([c], lines, budget_fen=10**9)
    # then: by goods left, the last eligible line takes the remainder
    assert steps[0].line_amounts == (1666, 1666, 1668, 0)
    assert steps[0].amount_fen == 5000
    assert steps[0].ref == "campaign:1"


# --- 满折 ---
def test_full_discount_by_count_rounds_the_price_paid_half_up():
    c = campaign(
        kind=rules.FULL_DISCOUNT,
        threshold_type=rules.THRESHOLD_COUNT,
        tiers=(TierData(2, rate_bp=9000), TierData(3, rate_bp=8500)),
    )
    assert full_discount_fen(c, amount_fen=3333, count=1) == 0
    assert full_discount_fen(c, amount_fen=3333, count=2) == 333  # pays 2999.7 → 3000
    assert full_discount_fen(c, amount_fen=3333, count=3) == 500  # pays 2833.05 → 2833


def test_full_discount_by_amount_with_lines():
    c = campaign(kind=rules.FULL_DISCOUNT, tiers=(TierData(30000, rate_bp=9000),))
    lines = [line(1, 12345), line(2, 20001)]
    steps, _ = evaluate([c], lines, budget_fen=10**9)
    # 32346 × 0.9 = 29111.4 → pays 29111, discount 3235
    assert steps[0].amount_fen == 3235
    assert sum(steps[0].line_amounts) == 3235


# --- N元N件 ---
def test_n_for_price_bundles_the_highest_priced_units():
    # given: any 3 for 99 元; units 50, 40, 40, 30, 10 元
    c = campaign(kind=rules.N_FOR_PRICE, bundle_quantity=3, bundle_price_fen=9900)
    qty, lefts = [1, 2, 1, 1], [5000, 8000, 3000, 1000]
    # when
    parts = n_for_price_parts(c, quantities=qty, lefts=lefts)
    # then: one bundle (50+40+40 = 130 元 → 99 元); the second would be 30+10 < 3 units
    assert sum(parts) == 13000 - 9900
    assert parts[2:] == [0, 0]
    assert parts == [1192, 1908, 0, 0]


def test_n_for_price_skips_a_bundle_not_worth_it():
    c = campaign(kind=rules.N_FOR_PRICE, bundle_quantity=2, bundle_price_fen=5000)
    assert n_for_price_parts(c, quantities=[4], lefts=[4000]) == [0, 0][:1]


def test_n_for_price_two_bundles_exact_to_the_fen():
    c = campaign(kind=rules.N_FOR_PRICE, bundle_quantity=3, bundle_price_fen=9900)
    parts = n_for_price_parts(c, quantities=[7], lefts=[7 * 3333])
    # 6 units in 2 bundles (value 19998) for 19800; the 7th pays its own price
    assert parts == [198]


# --- 买赠 ---
def test_buy_two_get_one_same_sku():
    c = campaign(kind=rules.BUY_GIFT, buy_quantity=2, gift_quantity=1)
    assert buy_gift_parts(c, quantities=[2, 3, 7], lefts=[3998, 5997, 7000]) == [0, 1999, 2000]


# --- limited time ---
def test_limited_time_price_or_rate():
    assert ItemData(sku_id=1, price_fen=1500).unit_price_fen(1999) == 1500
    assert ItemData(sku_id=1, rate_bp=8000).unit_price_fen(1999) == 1599  # 1599.2
    assert ItemData(sku_id=1, price_fen=2500).unit_price_fen(1999) == 1999  # never above


# --- stacking and best combination ---
def test_full_reduction_and_full_discount_do_not_combine_best_is_chosen():
    # given: 满500减100 and 满300打9折 on the same goods (one family): 9折 is worth more at 1200 元
    manzhe = campaign(2, kind=rules.FULL_DISCOUNT, tiers=(TierData(30000, rate_bp=9000),))
    lines = [line(1, 120000)]
    # when
    combo = best_combination([MANJIAN, manzhe], lines, budget_fen=120000 - 1)
    # then
    assert [s.campaign_id for s in combo.steps] == [2]
    assert combo.total_fen == 12000
    # and at 600 元 the 满减 (100 元) wins
    combo = best_combination([MANJIAN, manzhe], [line(1, 60000)], budget_fen=60000 - 1)
    assert [s.campaign_id for s in combo.steps] == [1]


def test_campaigns_on_disjoint_lines_both_apply():
    a = campaign(1, scope=rules.SCOPE_CATEGORIES, category_ids=frozenset({10}), tiers=MANJIAN.tiers)
    b = campaign(
        2,
        kind=rules.FULL_DISCOUNT,
        scope=rules.SCOPE_PRODUCTS,
        product_ids=frozenset({2}),
        tiers=(TierData(100, rate_bp=5000),),
    )
    lines = [line(1, 30000, categories=(11, 10)), line(2, 1000)]
    combo = best_combination([a, b], lines, budget_fen=10**9)
    assert [(s.campaign_id, s.line_amounts) for s in combo.steps] == [
        (1, (5000, 0)),
        (2, (0, 500)),
    ]


def test_stack_group_makes_combinable_kinds_exclusive():
    gift = campaign(2, kind=rules.BUY_GIFT, buy_quantity=1, gift_quantity=1)
    lines = [line(1, 20000, qty=2)]
    both = best_combination([MANJIAN, gift], lines, budget_fen=10**9)
    # 满300减50 first (400 元 → 350 元 left), then 买一送一 frees one unit of what is left
    assert [(s.campaign_id, s.amount_fen) for s in both.steps] == [(1, 5000), (2, 17500)]
    grouped = [
        campaign(1, tiers=MANJIAN.tiers, stack_group="店庆"),
        campaign(2, kind=rules.BUY_GIFT, buy_quantity=1, gift_quantity=1, stack_group="店庆"),
    ]
    one = best_combination(grouped, lines, budget_fen=10**9)
    assert [s.campaign_id for s in one.steps] == [2]  # 买一送一 (200 元) beats 满400减100


def coupon(id=7, amount=3000, threshold=0, stackable=True):
    def evaluate(idx, lefts):
        total = sum(lefts)
        if not idx or total < threshold:
            return 0, (), "未满足使用条件"
        return min(amount, total), tuple(lefts), ""

    return CouponOption(
        id=id, name=f"券{id}", stackable_with_campaigns=stackable, evaluate=evaluate
    )


def test_campaign_not_stackable_with_coupons_best_of_the_two():
    lonely = campaign(1, tiers=(TierData(30000, reduce_fen=2000),), stackable_with_coupons=False)
    lines = [line(1, 30000)]
    small = best_combination([lonely], lines, budget_fen=10**9, coupons=[coupon(amount=1000)])
    big = best_combination([lonely], lines, budget_fen=10**9, coupons=[coupon(amount=3000)])
    assert [(s.source, s.amount_fen) for s in small.steps] == [("full_reduction", 2000)]
    assert [(s.source, s.amount_fen) for s in big.steps] == [("coupon", 3000)]


def test_coupon_not_stackable_with_campaigns_tried_alone():
    lines = [line(1, 30000)]
    combo = best_combination(
        [MANJIAN], lines, budget_fen=10**9, coupons=[coupon(amount=6000, stackable=False)]
    )
    assert [s.ref for s in combo.steps] == ["coupon:7"]  # 60 元 alone > 满减 50 元 alone
    stacked = best_combination([MANJIAN], lines, budget_fen=10**9, coupons=[coupon(amount=4000)])
    assert [s.ref for s in stacked.steps] == ["campaign:1", "coupon:7"]
    assert stacked.total_fen == 9000


def test_coupon_threshold_after_campaigns_picks_the_better_side():
    # given: 满300减50 leaves 250 元, below the coupon's 300 元 threshold
    lines = [line(1, 30000)]
    combo = best_combination(
        [MANJIAN], lines, budget_fen=10**9, coupons=[coupon(amount=6000, threshold=30000)]
    )
    # then: the coupon alone (60 元) beats the campaign alone (50 元)
    assert [s.ref for s in combo.steps] == ["coupon:7"]


def test_required_coupon_unusable_gives_the_reason():
    combo = best_combination(
        [],
        [line(1, 100)],
        budget_fen=99,
        coupons=[coupon(threshold=30000)],
        coupon_required=True,
    )
    assert combo.coupon_id is None
    assert combo.coupon_reason == "未满足使用条件"


def test_free_order_attempt_is_capped_by_the_budget():
    # given: 买一送一 (100 元) + a 500 元 coupon on a 200 元 cart; pricing leaves 1 fen
    gift = campaign(2, kind=rules.BUY_GIFT, buy_quantity=1, gift_quantity=1)
    lines = [line(1, 10000, qty=2), line(2, 1)]
    combo = best_combination([gift], lines, budget_fen=20001 - 1, coupons=[coupon(amount=50000)])
    # then
    assert combo.total_fen == 20000
    for step in combo.steps:
        assert sum(step.line_amounts) == step.amount_fen
    left = [lines[i].left_fen - sum(s.line_amounts[i] for s in combo.steps) for i in range(2)]
    assert min(left) >= 0
    assert sum(left) == 1


def test_ties_go_to_fewer_discounts():
    # given: 满300减50 alone, or the same through two 25 元 campaigns that combine
    half_a = campaign(
        2, tiers=(TierData(30000, reduce_fen=2500),), combinable_kinds=frozenset({"buy_gift"})
    )
    half_b = campaign(
        3,
        kind=rules.BUY_GIFT,
        buy_quantity=3,
        gift_quantity=1,
        combinable_kinds=frozenset({"full_reduction"}),
    )
    lines = [line(1, 7500, qty=4)]  # 买三送一: 75 元 free; 满减 on the rest
    combo = best_combination([MANJIAN, half_a, half_b], lines, budget_fen=10**9)
    # MANJIAN (50) + gift (75) = 125 vs half_a (25) + gift (75) = 100 → MANJIAN + gift
    assert sorted(s.campaign_id for s in combo.steps) == [1, 3]


def test_special_priced_and_non_combinable_limited_lines_are_left_alone():
    limited = campaign(9, kind=rules.LIMITED_TIME, items=(ItemData(1, price_fen=100),))
    bundle = campaign(2, kind=rules.N_FOR_PRICE, bundle_quantity=2, bundle_price_fen=100)
    lines = [
        line(1, 5000, qty=2, limited=limited),  # 限时 does not combine with N元N件
        line(2, 5000, qty=2, special=True),  # flash sale
        line(3, 5000, qty=2),
    ]
    combo = best_combination([bundle], lines, budget_fen=10**9)
    assert combo.steps[0].line_amounts == (0, 0, 9900)
    # 满减 does combine with 限时
    steps, _ = evaluate([MANJIAN], [*lines[:1], line(3, 30000)], budget_fen=10**9)
    assert steps[0].line_amounts[0] > 0
