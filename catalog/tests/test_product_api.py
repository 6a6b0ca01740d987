from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from catalog import selectors
from catalog.cache import catalog_cache_forget_local
from catalog.models import Sku, StockLog
from catalog.services import (
    category_save,
    product_price_adjust,
    product_shelf_set,
)
from catalog.stock import stock_deduct, stock_set

from .factories import BrandFactory, CategoryFactory, product_with_skus

pytestmark = pytest.mark.django_db

LIST_QUERY_BUDGET = 4  # categories, count, page, tags
# categories, product+brand, skus, images, tags, and marketing's live-campaign snapshot (cached:
# the warm request below reads it from the cache)
DETAIL_QUERY_BUDGET = 6


def _cache_clear():
    """An empty catalogue cache: the shared one and this process's copies."""
    cache.clear()
    catalog_cache_forget_local()


def _titles(response):
    assert response.status_code == 200, response.content
    return [item["title"] for item in response.json()["results"]]


def _list(api_client, **params):
    return _titles(api_client.get("/api/v1/products", params))


# --- list shape and visibility ---
def test_list_item_shape(api_client):
    # given
    product = product_with_skus(
        title="西湖龙井",
        subtitle="明前特级",
        tags=("新品",),
        sales_count=42,
        skus=[
            {"specs": {"规格": "250g"}, "price_fen": 6800, "original_price_fen": 8800, "stock": 0},
            {"specs": {"规格": "500g"}, "price_fen": 12800, "original_price_fen": 15800},
        ],
    )
    # when
    response = api_client.get("/api/v1/products")
    # then
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["results"] == [
        {
            "id": product.pk,
            "title": "西湖龙井",
            "subtitle": "明前特级",
            "image": "",
            "min_price_fen": 6800,
            "max_price_fen": 12800,
            "original_price_fen": 15800,
            "sales_count": 42,
            "tags": ["新品"],
            "in_stock": True,
        }
    ]


def test_list_hides_products_off_shelf_without_active_sku_or_in_hidden_categories(api_client):
    # given
    hidden_root = CategoryFactory(name="隐藏", is_visible=False)
    hidden_child = CategoryFactory(name="子分类", parent=hidden_root)
    product_with_skus(title="可见", skus=[{"price_fen": 100}])
    product_with_skus(title="下架", is_on_shelf=False, skus=[{"price_fen": 100}])
    product_with_skus(title="无SKU", skus=[{"price_fen": 100, "is_active": False}])
    product_with_skus(title="隐藏分类", category=hidden_root, skus=[{"price_fen": 100}])
    product_with_skus(title="隐藏分类的子分类", category=hidden_child, skus=[{"price_fen": 100}])
    # when / then
    assert _list(api_client) == ["可见"]
    assert _list(api_client, q="隐藏") == []
    assert _list(api_client, category=hidden_root.pk) == []


def test_hidden_category_makes_detail_404(api_client):
    # given
    root = CategoryFactory(name="食品")
    child = CategoryFactory(name="茶", parent=root)
    product = product_with_skus(title="龙井", category=child, skus=[{"price_fen": 100}])
    assert api_client.get(f"/api/v1/products/{product.pk}").status_code == 200
    # when
    root.is_visible = False
    category_save(category=root)
    # then
    response = api_client.get(f"/api/v1/products/{product.pk}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert _list(api_client) == []
    assert _list(api_client, q="龙井") == []


def test_detail_of_unknown_or_off_shelf_product_is_404(api_client):
    product = product_with_skus(is_on_shelf=False, skus=[{"price_fen": 100}])
    assert api_client.get(f"/api/v1/products/{product.pk}").status_code == 404
    assert api_client.get("/api/v1/products/999999").status_code == 404


# --- filters and orderings ---
@pytest.fixture
def shelf():
    """Five products across a category tree, with prices, tags, stock, sales and ages."""
    now = timezone.now()
    tea = CategoryFactory(name="茶")
    green = CategoryFactory(name="绿茶", parent=tea)
    snacks = CategoryFactory(name="零食")
    product_with_skus(
        title="龙井",
        category=green,
        tags=("新品",),
        sales_count=50,
        created_at=now - timedelta(days=1),
        skus=[{"price_fen": 6800, "stock": 5}],
    )
    product_with_skus(
        title="普洱",
        category=tea,
        sales_count=80,
        created_at=now - timedelta(days=3),
        skus=[{"price_fen": 9900, "stock": 0}],
    )
    product_with_skus(
        title="瓜子",
        category=snacks,
        tags=("新品",),
        sales_count=10,
        sort_weight=5,
        created_at=now,
        skus=[{"price_fen": 1200, "stock": 3}],
    )
    product_with_skus(
        title="碧螺春",
        category=green,
        sales_count=30,
        created_at=now - timedelta(days=2),
        skus=[{"price_fen": 4500, "stock": 0}, {"price_fen": 5500, "stock": 2}],
    )
    return {"tea": tea, "green": green, "snacks": snacks}


def test_default_ordering_is_sort_weight_then_sales(api_client, shelf):
    assert _list(api_client) == ["瓜子", "普洱", "龙井", "碧螺春"]


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("sales", ["普洱", "龙井", "碧螺春", "瓜子"]),
        ("price", ["瓜子", "碧螺春", "龙井", "普洱"]),
        ("-price", ["普洱", "龙井", "碧螺春", "瓜子"]),
        ("newest", ["瓜子", "龙井", "碧螺春", "普洱"]),
    ],
)
def test_orderings(api_client, shelf, ordering, expected):
    assert _list(api_client, ordering=ordering) == expected


def test_category_filter_includes_descendants(api_client, shelf):
    assert _list(api_client, category=shelf["tea"].pk, ordering="sales") == [
        "普洱",
        "龙井",
        "碧螺春",
    ]
    assert _list(api_client, category=shelf["green"].pk, ordering="sales") == ["龙井", "碧螺春"]


def test_price_tag_and_stock_filters(api_client, shelf):
    assert _list(api_client, min_price=4500, max_price=6800, ordering="price") == [
        "碧螺春",
        "龙井",
    ]
    assert _list(api_client, tag="新品", ordering="sales") == ["龙井", "瓜子"]
    assert _list(api_client, in_stock="true", ordering="sales") == ["龙井", "碧螺春", "瓜子"]


def test_invalid_filters_are_400(api_client):
    response = api_client.get("/api/v1/products", {"ordering": "cheapest", "min_price": -1})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert {"ordering", "min_price"} <= set(body["detail"])


def test_page_number_pagination_with_capped_page_size(api_client):
    # given
    for n in range(55):
        product_with_skus(title=f"商品{n:02d}", sales_count=n, skus=[{"price_fen": 100}])
    # when
    first = api_client.get("/api/v1/products", {"ordering": "sales", "page_size": 20}).json()
    third = api_client.get("/api/v1/products", {"ordering": "sales", "page": 3}).json()
    capped = api_client.get("/api/v1/products", {"page_size": 500}).json()
    beyond = api_client.get("/api/v1/products", {"page": 9})
    # then
    assert first["count"] == 55
    assert first["previous"] is None
    assert "page=2" in first["next"]
    assert [item["title"] for item in first["results"]][:2] == ["商品54", "商品53"]
    assert len(third["results"]) == 15
    assert third["next"] is None
    assert len(capped["results"]) == 50
    assert beyond.status_code == 404


# --- detail ---
def test_detail_shape_with_skus_images_specs_and_prices(api_client):
    # given
    brand = BrandFactory(name="狮峰")
    root = CategoryFactory(name="茶")
    child = CategoryFactory(name="绿茶", parent=root)
    product = product_with_skus(
        title="西湖龙井",
        brand=brand,
        category=child,
        tags=("新品",),
        detail_html="<p>好茶</p>",
        skus=[
            {
                "code": "LJ-250",
                "specs": {"规格": "250g"},
                "price_fen": 6800,
                "original_price_fen": 8800,
                "stock": 0,
            },
            {"code": "LJ-500", "specs": {"规格": "500g"}, "price_fen": 12800, "stock": 4},
        ],
    )
    small, large = product.skus.order_by("id")
    # when
    response = api_client.get(f"/api/v1/products/{product.pk}")
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["title"] == "西湖龙井"
    assert body["brand"] == {"id": brand.pk, "name": "狮峰"}
    assert body["category_path"] == [
        {"id": root.pk, "name": "茶"},
        {"id": child.pk, "name": "绿茶"},
    ]
    assert body["tags"] == ["新品"]
    assert body["detail_html"] == "<p>好茶</p>"
    assert body["images"] == []
    assert "dimension_order" not in body
    assert body["skus"] == [
        {
            "id": small.pk,
            "code": "LJ-250",
            "specs": {"规格": "250g"},
            "price_fen": 6800,
            "original_price_fen": 8800,
            "stock": 0,
            "in_stock": False,
            "image": "",
            "pay_price_fen": 6800,
        },
        {
            "id": large.pk,
            "code": "LJ-500",
            "specs": {"规格": "500g"},
            "price_fen": 12800,
            "original_price_fen": 0,
            "stock": 4,
            "in_stock": True,
            "image": "",
            "pay_price_fen": 12800,
        },
    ]
    assert body["specs"]["dimensions"] == [
        {
            "name": "规格",
            "values": [
                {"value": "250g", "available": False},
                {"value": "500g", "available": True},
            ],
        }
    ]
    # the shopper pays the lowest in-stock price
    assert body["price"] == {"min_price_fen": 6800, "max_price_fen": 12800, "pay_price_fen": 12800}


def test_cached_detail_shows_fresh_stock(api_client):
    # given
    product = product_with_skus(skus=[{"specs": {"规格": "一"}, "price_fen": 100, "stock": 5}])
    sku = product.skus.get()
    api_client.get(f"/api/v1/products/{product.pk}")  # cached now
    # when: an order takes 2 (no cache bump: not sold out)
    stock_deduct(sku_id=sku.pk, qty=2, reason=StockLog.Reason.ORDER_RESERVE)
    # then
    body = api_client.get(f"/api/v1/products/{product.pk}").json()
    assert body["skus"][0]["stock"] == 3
    assert body["specs"]["combinations"]["规格:一"]["stock"] == 3


def test_detail_keeps_stock_levels_until_a_stock_move(api_client, django_assert_num_queries):
    # given: a cached detail whose stock levels this process has read once
    product = product_with_skus(skus=[{"specs": {"规格": "一"}, "price_fen": 100, "stock": 5}])
    sku = product.skus.get()
    api_client.get(f"/api/v1/products/{product.pk}")
    api_client.get(f"/api/v1/products/{product.pk}")
    # when / then: no query while the copy is fresh
    with django_assert_num_queries(0):
        assert api_client.get(f"/api/v1/products/{product.pk}").json()["skus"][0]["stock"] == 5
    # when: a stock move in this process
    stock_deduct(sku_id=sku.pk, qty=1, reason=StockLog.Reason.ORDER_RESERVE)
    # then: shown at once
    assert api_client.get(f"/api/v1/products/{product.pk}").json()["skus"][0]["stock"] == 4


# --- categories ---
def test_category_tree_shows_visible_categories_in_order(api_client):
    # given
    tea = CategoryFactory(name="茶", sort_order=2)
    food = CategoryFactory(name="食品", sort_order=1)
    CategoryFactory(name="绿茶", parent=tea, sort_order=1)
    hidden = CategoryFactory(name="隐藏", parent=tea, is_visible=False)
    CategoryFactory(name="隐藏之下", parent=hidden)
    CategoryFactory(name="红茶", parent=tea, sort_order=0)
    # when
    response = api_client.get("/api/v1/categories")
    # then
    assert response.status_code == 200
    tree = response.json()
    assert [node["name"] for node in tree] == ["食品", "茶"]
    assert tree[0]["children"] == []
    assert [node["name"] for node in tree[1]["children"]] == ["红茶", "绿茶"]
    assert tree[1]["icon"] == ""
    assert food.pk == tree[0]["id"]


# --- query budgets ---
def _queries(path, params=None):
    _cache_clear()  # measure the uncached path
    with CaptureQueriesContext(connection) as captured:
        response = APIClient().get(path, params or {})
    assert response.status_code == 200, response.content
    return len(captured)


@pytest.mark.parametrize("params", [{}, {"category": "tea"}, {"q": "茶"}, {"tag": "新品"}])
def test_list_queries_do_not_grow_with_page_size(params, django_assert_num_queries):
    # given: 12 products with two tags each
    tea = CategoryFactory(name="茶")
    for n in range(12):
        product_with_skus(
            title=f"好茶{n}", category=tea, tags=("新品", f"标签{n}"), skus=[{"price_fen": 100}]
        )
    params = {**params, "category": tea.pk} if "category" in params else params
    # when
    small = _queries("/api/v1/products", {**params, "page_size": 2})
    large = _queries("/api/v1/products", {**params, "page_size": 12})
    # then: the search counts its keyword once (one upsert)
    budget = LIST_QUERY_BUDGET + (1 if "q" in params else 0)
    assert small == large <= budget


def test_list_query_count_exact(api_client, django_assert_num_queries):
    # given
    for n in range(10):
        product_with_skus(title=f"商品{n}", tags=("新品",), skus=[{"price_fen": 100}])
    _cache_clear()
    # when / then
    with django_assert_num_queries(LIST_QUERY_BUDGET):
        assert len(_list(api_client, page_size=10)) == 10
    with django_assert_num_queries(0):  # cached
        assert len(_list(api_client, page_size=10)) == 10


def test_list_and_search_with_categories_cached(api_client, django_assert_num_queries):
    # given: 10 products; the category map is cached (as it is between catalogue changes)
    for n in range(10):
        product_with_skus(title=f"好茶{n}", tags=("新品",), skus=[{"price_fen": 100}])
    _cache_clear()
    selectors.category_visible_map_cached()
    # when / then: count, page, tags (+ the keyword upsert for a search)
    with django_assert_num_queries(3):
        assert len(_list(api_client, page_size=10)) == 10
    with django_assert_num_queries(4):
        assert len(_list(api_client, q="好茶", page_size=10)) == 10


def test_detail_query_budget(api_client, django_assert_num_queries):
    # given
    product = product_with_skus(
        tags=("新品", "热卖"),
        brand=BrandFactory(name="狮峰"),
        skus=[{"specs": {"规格": f"{n}"}, "price_fen": 100 + n} for n in range(10)],
    )
    _cache_clear()
    # when / then
    with django_assert_num_queries(DETAIL_QUERY_BUDGET):
        assert api_client.get(f"/api/v1/products/{product.pk}").status_code == 200
    with django_assert_num_queries(1):  # cached: only the fresh stock levels
        assert api_client.get(f"/api/v1/products/{product.pk}").status_code == 200


def test_category_tree_is_one_query(api_client, django_assert_num_queries):
    for n in range(10):
        CategoryFactory(name=f"根{n}")
    _cache_clear()
    with django_assert_num_queries(1):
        assert api_client.get("/api/v1/categories").status_code == 200


# --- cache invalidation ---
def test_cached_list_reflects_shelf_change(api_client):
    # given
    product = product_with_skus(title="龙井", skus=[{"price_fen": 100}])
    assert _list(api_client) == ["龙井"]
    # when
    product_shelf_set(product_ids=[product.pk], is_on_shelf=False)
    # then
    assert _list(api_client) == []
    assert api_client.get(f"/api/v1/products/{product.pk}").status_code == 404


def test_cached_list_and_detail_reflect_price_change(api_client):
    # given
    product = product_with_skus(title="龙井", skus=[{"price_fen": 1000}])
    assert api_client.get("/api/v1/products").json()["results"][0]["min_price_fen"] == 1000
    assert api_client.get(f"/api/v1/products/{product.pk}").json()["price"]["min_price_fen"] == 1000
    # when: +10%
    product_price_adjust(product_ids=[product.pk], percent_bp=1000)
    # then
    assert api_client.get("/api/v1/products").json()["results"][0]["min_price_fen"] == 1100
    detail = api_client.get(f"/api/v1/products/{product.pk}").json()
    assert detail["price"]["min_price_fen"] == 1100
    assert detail["skus"][0]["price_fen"] == 1100


def test_cached_list_reflects_selling_out(api_client):
    # given
    product = product_with_skus(title="龙井", skus=[{"price_fen": 100, "stock": 2}])
    sku = Sku.objects.get(product=product)
    assert api_client.get("/api/v1/products").json()["results"][0]["in_stock"] is True
    # when
    stock_deduct(sku_id=sku.pk, qty=2, reason=StockLog.Reason.ORDER_RESERVE)
    # then
    assert api_client.get("/api/v1/products").json()["results"][0]["in_stock"] is False
    assert _list(api_client, in_stock="true") == []
    # and back in stock
    stock_set(sku_id=sku.pk, stock=7, reason=StockLog.Reason.ADMIN_ADJUST)
    assert _list(api_client, in_stock="true") == ["龙井"]
