import pytest

from catalog.models import Product, Sku
from catalog.services import (
    category_parent_validate,
    category_save,
    product_category_set,
    product_detail_sanitize,
    product_price_adjust,
    product_refresh_derived,
    product_shelf_set,
)
from catalog.specs import spec_matrix
from mall.errors import (
    CategoryParentInvalid,
    CategoryTooDeep,
    PriceAdjustInvalid,
    SpecDuplicate,
    SpecInconsistent,
    SpecInvalid,
)

from .factories import CategoryFactory, ProductFactory, SkuFactory, product_with_skus

pytestmark = pytest.mark.django_db


def _two_by_two_product():
    """颜色 红/蓝 × 尺码 S/M without 蓝+M; 红+S sold out."""
    return product_with_skus(
        title="T恤",
        skus=[
            {"specs": {"颜色": "红", "尺码": "S"}, "price_fen": 5900, "stock": 0},
            {"specs": {"尺码": "M", "颜色": "红"}, "price_fen": 6900, "stock": 3},
            {"specs": {"颜色": "蓝", "尺码": "S"}, "price_fen": 5900, "stock": 8},
        ],
    )


def test_refresh_derives_dimensions_spec_keys_and_prices():
    # given
    product = _two_by_two_product()
    # then
    assert product.spec_dimensions == [
        {"name": "颜色", "values": ["红", "蓝"]},
        {"name": "尺码", "values": ["S", "M"]},
    ]
    keys = list(
        Sku.objects.filter(product=product).order_by("id").values_list("spec_key", flat=True)
    )
    assert keys == ["颜色:红|尺码:S", "颜色:红|尺码:M", "颜色:蓝|尺码:S"]
    assert (product.min_price_fen, product.max_price_fen) == (5900, 6900)


def test_spec_matrix_of_two_by_two_with_a_missing_and_a_sold_out_combination(api_client):
    # given
    product = _two_by_two_product()
    red_s, red_m, blue_s = product.skus.order_by("id").values_list("id", flat=True)
    # when
    response = api_client.get(f"/api/v1/products/{product.pk}")
    # then
    assert response.status_code == 200
    matrix = response.json()["specs"]
    assert matrix["dimensions"] == [
        {
            "name": "颜色",
            "values": [{"value": "红", "available": True}, {"value": "蓝", "available": True}],
        },
        {
            "name": "尺码",
            "values": [{"value": "S", "available": True}, {"value": "M", "available": True}],
        },
    ]
    assert matrix["combinations"] == {
        "颜色:红|尺码:S": {"sku_id": red_s, "stock": 0, "price_fen": 5900},
        "颜色:红|尺码:M": {"sku_id": red_m, "stock": 3, "price_fen": 6900},
        "颜色:蓝|尺码:S": {"sku_id": blue_s, "stock": 8, "price_fen": 5900},
    }
    assert "颜色:蓝|尺码:M" not in matrix["combinations"]


def test_a_value_only_on_sold_out_skus_is_unavailable():
    # given
    skus = [
        {"id": 1, "specs": {"颜色": "红", "尺码": "S"}, "stock": 0, "price_fen": 100},
        {"id": 2, "specs": {"颜色": "红", "尺码": "M"}, "stock": 0, "price_fen": 100},
        {"id": 3, "specs": {"颜色": "蓝", "尺码": "M"}, "stock": 2, "price_fen": 100},
    ]
    # when
    dimensions = spec_matrix(skus)["dimensions"]
    # then
    assert dimensions[0]["values"] == [
        {"value": "红", "available": False},
        {"value": "蓝", "available": True},
    ]
    assert dimensions[1]["values"] == [
        {"value": "S", "available": False},
        {"value": "M", "available": True},
    ]


def test_inactive_skus_do_not_count_for_prices_or_dimensions():
    # given
    product = product_with_skus(
        skus=[
            {"specs": {"颜色": "红"}, "price_fen": 1000, "original_price_fen": 1500},
            {
                "specs": {"颜色": "金"},
                "price_fen": 99,
                "original_price_fen": 9999,
                "is_active": False,
            },
        ]
    )
    # then
    assert (product.min_price_fen, product.max_price_fen) == (1000, 1000)
    assert product.original_price_fen == 1500
    assert product.spec_dimensions == [{"name": "颜色", "values": ["红"]}]


def test_inconsistent_dimensions_are_refused_with_a_domain_error():
    # given
    product = ProductFactory()
    SkuFactory(product=product, specs={"颜色": "红", "尺码": "S"})
    SkuFactory(product=product, specs={"颜色": "蓝"})
    # when / then
    with pytest.raises(SpecInconsistent) as raised:
        product_refresh_derived(product_id=product.pk)
    assert raised.value.code == "spec_inconsistent"
    assert raised.value.detail["expected"] == ["尺码", "颜色"]


def test_duplicate_and_malformed_specs_are_refused():
    # given
    product = ProductFactory()
    SkuFactory(product=product, specs={"颜色": "红"}, spec_key="a")
    SkuFactory(product=product, specs={"颜色": "红"}, spec_key="b")
    # when / then
    with pytest.raises(SpecDuplicate):
        product_refresh_derived(product_id=product.pk)
    other = ProductFactory()
    SkuFactory(product=other, specs={"颜色": 1})
    with pytest.raises(SpecInvalid):
        product_refresh_derived(product_id=other.pk)


def test_detail_html_is_sanitised():
    # given
    html = (
        '<p onclick="steal()">好茶<script>alert(1)</script></p>'
        '<img src="javascript:alert(1)"><img src="https://cdn.example.com/a.jpg" onerror="x()">'
        '<a href="javascript:alert(1)">链接</a><iframe src="https://evil"></iframe>'
        "<table><tr><td>产地</td><td>杭州</td></tr></table><h2>冲泡</h2><style>p{}</style>"
    )
    # when
    clean = product_detail_sanitize(html)
    # then
    assert "script" not in clean
    assert "alert" not in clean
    assert "onclick" not in clean
    assert "onerror" not in clean
    assert "javascript:" not in clean
    assert "iframe" not in clean
    assert "<style" not in clean
    assert '<img src="https://cdn.example.com/a.jpg">' in clean
    assert "<td>杭州</td>" in clean
    assert "<h2>冲泡</h2>" in clean
    assert "<p>好茶</p>" in clean


def test_price_adjust_rounds_half_up_keeps_original_and_never_goes_below_one_fen():
    # given
    product = product_with_skus(
        skus=[
            {"price_fen": 1999, "original_price_fen": 2999},
            {"price_fen": 5, "original_price_fen": 0},
            {"price_fen": 1, "original_price_fen": 0},
        ]
    )
    # when: -10%
    changed = product_price_adjust(product_ids=[product.pk], percent_bp=-1000)
    # then: 1999*0.9 = 1799.1 → 1799; 5*0.9 = 4.5 → 5 (half up); 1 stays 1
    prices = list(product.skus.order_by("id").values_list("price_fen", "original_price_fen"))
    assert prices == [(1799, 2999), (5, 0), (1, 0)]
    assert changed == 1
    product.refresh_from_db()
    assert (product.min_price_fen, product.max_price_fen) == (1, 1799)


def test_price_adjust_down_to_a_minimum_of_one_fen():
    # given
    product = product_with_skus(skus=[{"price_fen": 300}])
    # when: -99.99%
    product_price_adjust(product_ids=[product.pk], percent_bp=-9999)
    # then
    assert product.skus.get().price_fen == 1


def test_price_adjust_refuses_minus_100_percent():
    product = product_with_skus(skus=[{"price_fen": 300}])
    with pytest.raises(PriceAdjustInvalid):
        product_price_adjust(product_ids=[product.pk], percent_bp=-10000)
    assert product.skus.get().price_fen == 300


def test_shelf_and_category_changes():
    # given
    product = product_with_skus(skus=[{"price_fen": 300}], is_on_shelf=True)
    tea = CategoryFactory(name="茶叶")
    # when
    off = product_shelf_set(product_ids=[product.pk], is_on_shelf=False)
    moved = product_category_set(product_ids=[product.pk], category_id=tea.pk)
    # then
    product.refresh_from_db()
    assert (off, moved) == (1, 1)
    assert not product.is_on_shelf
    assert product.category_id == tea.pk
    assert "茶叶" in product.search_text


def test_category_depth_is_at_most_three():
    # given
    food = CategoryFactory(name="食品")
    tea = category_save(category=CategoryFactory.build(name="茶叶", parent=food))
    green = category_save(category=CategoryFactory.build(name="绿茶", parent=tea))
    # when / then
    with pytest.raises(CategoryTooDeep):
        category_save(category=CategoryFactory.build(name="龙井", parent=green))


def test_moving_a_subtree_checks_its_height():
    # given: drinks > tea (two levels) and food > snacks
    drinks = CategoryFactory(name="饮品")
    tea = CategoryFactory(name="茶", parent=drinks)
    CategoryFactory(name="绿茶", parent=tea)
    food = CategoryFactory(name="食品")
    snacks = CategoryFactory(name="零食", parent=food)
    # when / then: drinks(3 levels) under snacks would make 5 levels
    with pytest.raises(CategoryTooDeep):
        category_parent_validate(category=drinks, parent=snacks)
    with pytest.raises(CategoryTooDeep):
        category_parent_validate(category=tea, parent=snacks)
    category_parent_validate(category=tea, parent=food)  # 食品 > 茶 > 绿茶: fine


def test_a_category_cannot_move_under_itself_or_its_descendant():
    drinks = CategoryFactory(name="饮品")
    tea = CategoryFactory(name="茶", parent=drinks)
    with pytest.raises(CategoryParentInvalid):
        category_parent_validate(category=drinks, parent=tea)
    with pytest.raises(CategoryParentInvalid):
        category_parent_validate(category=drinks, parent=drinks)


def test_renaming_a_category_refreshes_its_products_search_text():
    # given
    tea = CategoryFactory(name="茶叶")
    product = product_with_skus(category=tea, skus=[{"price_fen": 100}])
    # when
    tea.name = "茗茶"
    category_save(category=tea)
    # then
    assert "茗茶" in Product.objects.get(pk=product.pk).search_text
