import io

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import Image

from catalog.models import Category, Product, Sku, StockLog
from catalog.stock import stock_deduct

from .factories import CategoryFactory, TagFactory, product_with_skus

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/catalog/product/"


def _products(count, **fields):
    return [
        product_with_skus(
            title=f"商品{n}",
            tags=("新品",),
            skus=[
                {"specs": {"规格": "小"}, "price_fen": 1000 + n, "stock": 3},
                {"specs": {"规格": "大"}, "price_fen": 2000 + n, "stock": 20},
            ],
            **fields,
        )
        for n in range(count)
    ]


def _changelist_queries(admin_client):
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    return len(captured), response


def _management(prefix, total, initial=0):
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def _product_form(category, **overrides):
    data = {
        "title": "西湖龙井",
        "subtitle": "明前",
        "category": str(category.pk),
        "brand": "",
        "detail_html": '<p onclick="x()">好茶<script>bad()</script></p>',
        "sort_weight": "0",
        "is_on_shelf": "on",
        **_management("skus", 2),
        **_management("images", 0),
        "skus-0-code": "LJ-250",
        "skus-0-specs": '{"颜色": "绿", "规格": "250g"}',
        "skus-0-price_fen": "6800",
        "skus-0-original_price_fen": "8800",
        "skus-0-stock": "12",
        "skus-0-low_stock_threshold": "5",
        "skus-0-weight_g": "300",
        "skus-0-is_active": "on",
        "skus-1-code": "LJ-500",
        "skus-1-specs": '{"颜色": "绿", "规格": "500g"}',
        "skus-1-price_fen": "12800",
        "skus-1-original_price_fen": "0",
        "skus-1-stock": "0",
        "skus-1-low_stock_threshold": "5",
        "skus-1-weight_g": "550",
        "skus-1-is_active": "on",
    }
    data.update(overrides)
    return data


def test_changelist_loads_with_a_constant_number_of_queries(admin_client):
    # given
    _products(10)
    ten, response = _changelist_queries(admin_client)
    # when
    _products(15)
    twenty_five, _ = _changelist_queries(admin_client)
    # then
    assert ten == twenty_five
    content = response.content.decode()
    assert "¥10.00 – 20.00" in content
    assert "库存预警" in content


def test_changelist_shows_total_active_stock_and_low_stock_filter(admin_client):
    # given
    low = product_with_skus(
        title="快卖完",
        skus=[
            {"specs": {"规格": "小"}, "price_fen": 100, "stock": 2, "low_stock_threshold": 5},
            {"specs": {"规格": "大"}, "price_fen": 100, "stock": 50},
            {"specs": {"规格": "旧"}, "price_fen": 100, "stock": 1000, "is_active": False},
        ],
    )
    product_with_skus(title="充足", skus=[{"price_fen": 100, "stock": 500}])
    # when
    response = admin_client.get(CHANGELIST, {"low_stock": "yes"})
    # then
    assert response.status_code == 200
    result = response.context["cl"].result_list
    assert [product.title for product in result] == ["快卖完"]
    assert result[0].total_stock == 52
    assert low.pk == result[0].pk


def test_changelist_search_by_title_and_sku_code(admin_client):
    product_with_skus(
        title="西湖龙井",
        skus=[
            {"code": "LJ-001", "price_fen": 100, "stock": 4},
            {"code": "LJ-002", "price_fen": 100, "stock": 6},
        ],
    )
    product_with_skus(title="普洱", skus=[{"code": "PE-001", "price_fen": 100}])
    for term, expected in [("龙井", ["西湖龙井"]), ("PE-001", ["普洱"]), ("LJ-00", ["西湖龙井"])]:
        response = admin_client.get(CHANGELIST, {"q": term})
        assert [p.title for p in response.context["cl"].result_list] == expected
    # the SKU join of the search does not double the stock sum
    response = admin_client.get(CHANGELIST, {"q": "LJ-00"})
    assert response.context["cl"].result_list[0].total_stock == 10


def test_add_product_with_skus_logs_initial_stock_and_derives_fields(admin_client, admin_user):
    # given
    category = CategoryFactory(name="绿茶")
    # when
    response = admin_client.post("/admin/catalog/product/add/", _product_form(category))
    # then
    assert response.status_code == 302, response.context and response.context["errors"]
    product = Product.objects.get(title="西湖龙井")
    assert product.detail_html == "<p>好茶</p>"
    assert (product.min_price_fen, product.max_price_fen, product.original_price_fen) == (
        6800,
        12800,
        8800,
    )
    # the order the merchant typed, although jsonb stores 规格 before 颜色
    assert [d["name"] for d in product.spec_dimensions] == ["颜色", "规格"]
    assert sorted(product.skus.values_list("spec_key", flat=True)) == [
        "颜色:绿|规格:250g",
        "颜色:绿|规格:500g",
    ]
    sku = product.skus.get(code="LJ-250")
    assert sku.stock == 12
    log = StockLog.objects.get(sku=sku)
    assert (log.change, log.reason, log.operator) == (12, "admin_adjust", admin_user.username)
    assert not StockLog.objects.filter(sku__code="LJ-500").exists()


def test_editing_a_sku_never_overwrites_stock_and_a_count_goes_through_stock_set(
    admin_client, admin_user
):
    # given: the product is opened in the admin while an order takes 2 units
    category = CategoryFactory(name="绿茶")
    admin_client.post("/admin/catalog/product/add/", _product_form(category))
    product = Product.objects.get(title="西湖龙井")
    small, large = product.skus.order_by("id")
    stock_deduct(sku_id=small.pk, qty=2, reason=StockLog.Reason.ORDER_RESERVE)
    edit = _product_form(
        category,
        **_management("skus", 2, initial=2),
        **{
            "skus-0-id": str(small.pk),
            "skus-0-product": str(product.pk),
            "skus-0-price_fen": "6600",
            "skus-0-stock": "12",  # the stale value the form showed; disabled, ignored
            "skus-1-id": str(large.pk),
            "skus-1-product": str(product.pk),
            "skus-1-stock_set_to": "30",
        },
    )
    # when
    response = admin_client.post(f"/admin/catalog/product/{product.pk}/change/", edit)
    # then
    assert response.status_code == 302, response.context and response.context["errors"]
    small.refresh_from_db()
    large.refresh_from_db()
    assert (small.price_fen, small.stock) == (6600, 10)
    assert large.stock == 30
    count = StockLog.objects.get(sku=large)
    assert (count.change, count.reason, count.operator) == (30, "admin_adjust", admin_user.username)


def test_inconsistent_specs_are_refused_in_the_form(admin_client):
    category = CategoryFactory(name="绿茶")
    data = _product_form(category, **{"skus-1-specs": '{"尺码": "M"}'})
    response = admin_client.post("/admin/catalog/product/add/", data)
    assert response.status_code == 200
    assert "同一商品的所有启用 SKU 必须有相同的规格项" in response.content.decode()
    assert not Product.objects.exists()


def test_a_file_that_is_not_an_image_is_refused(admin_client):
    category = CategoryFactory(name="绿茶")
    data = _product_form(category)
    data["main_image"] = SimpleUploadedFile("x.jpg", b"not an image", content_type="image/jpeg")
    response = admin_client.post("/admin/catalog/product/add/", data)
    assert response.status_code == 200
    assert "文件不是图片" in response.content.decode()
    assert not Product.objects.exists()


def test_uploading_a_main_image_queues_thumbnails(
    admin_client, settings, tmp_path, django_capture_on_commit_callbacks
):
    # given
    settings.MEDIA_ROOT = tmp_path
    category = CategoryFactory(name="绿茶")
    buffer = io.BytesIO()
    Image.new("RGB", (600, 400), (0, 160, 80)).save(buffer, format="PNG")
    data = _product_form(category)
    data["main_image"] = SimpleUploadedFile("tea.png", buffer.getvalue(), content_type="image/png")
    # when
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client.post("/admin/catalog/product/add/", data)
    # then
    assert response.status_code == 302
    assert callbacks
    product = Product.objects.get()
    assert product.main_image_thumb.name


def _action(admin_client, action, products, **extra):
    return admin_client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [str(p.pk) for p in products], **extra},
    )


def test_bulk_shelf_actions(admin_client):
    # given
    products = _products(3)
    # when
    response = _action(admin_client, "shelf_off", products[:2])
    # then
    assert response.status_code == 302
    assert list(Product.objects.filter(is_on_shelf=True).values_list("title", flat=True)) == [
        "商品2"
    ]
    _action(admin_client, "shelf_on", products)
    assert Product.objects.filter(is_on_shelf=True).count() == 3


def test_bulk_category_change_asks_then_applies(admin_client):
    # given
    products = _products(2)
    gifts = CategoryFactory(name="礼盒")
    # when: the first post shows the form
    ask = _action(admin_client, "category_change", products)
    apply = _action(admin_client, "category_change", products, apply="1", category=str(gifts.pk))
    # then
    assert ask.status_code == 200
    assert "新分类" in ask.content.decode()
    assert apply.status_code == 302
    assert set(Product.objects.values_list("category_id", flat=True)) == {gifts.pk}
    assert all("礼盒" in text for text in Product.objects.values_list("search_text", flat=True))


def test_bulk_price_adjust_by_percent(admin_client, api_client):
    # given
    products = _products(2)
    api_client.get("/api/v1/products")  # cached
    # when: -10%
    ask = _action(admin_client, "price_adjust", products)
    apply = _action(admin_client, "price_adjust", products, apply="1", percent="-10")
    # then
    assert ask.status_code == 200
    assert apply.status_code == 302
    prices = sorted(Sku.objects.values_list("price_fen", flat=True))
    assert prices == [900, 901, 1800, 1801]  # 1000, 1001, 2000, 2001 less 10%, half up
    results = api_client.get("/api/v1/products").json()["results"]
    assert sorted(r["min_price_fen"] for r in results) == [900, 901]


def test_list_editable_shelf_toggle_keeps_concurrent_sales(admin_client):
    # given
    (product,) = _products(1)
    response = admin_client.get(CHANGELIST)
    Product.objects.filter(pk=product.pk).update(sales_count=77)  # an order meanwhile
    data = {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
        "form-0-id": str(product.pk),
        "_save": "保存",
    }  # is_on_shelf unchecked → off
    assert response.status_code == 200
    # when
    response = admin_client.post(CHANGELIST, data)
    # then
    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.is_on_shelf, product.sales_count) == (False, 77)


def test_stock_log_admin_is_read_only(admin_client):
    # given
    (product,) = _products(1)
    sku = product.skus.first()
    stock_deduct(sku_id=sku.pk, qty=1, reason=StockLog.Reason.ORDER_RESERVE, reference="O123")
    log = StockLog.objects.get(reference="O123")
    # when / then
    assert admin_client.get("/admin/catalog/stocklog/").status_code == 200
    found = admin_client.get("/admin/catalog/stocklog/", {"q": "O123"}).context["cl"].result_list
    assert list(found) == [log]
    assert admin_client.get("/admin/catalog/stocklog/add/").status_code == 403
    page = admin_client.get(f"/admin/catalog/stocklog/{log.pk}/change/")
    assert page.status_code == 200
    assert b'name="change"' not in page.content
    assert admin_client.post(f"/admin/catalog/stocklog/{log.pk}/delete/").status_code == 403


def test_category_admin_refuses_a_fourth_level(admin_client):
    # given
    root = CategoryFactory(name="食品")
    child = CategoryFactory(name="茶", parent=root)
    grandchild = CategoryFactory(name="绿茶", parent=child)
    # when
    response = admin_client.post(
        "/admin/catalog/category/add/",
        {"name": "龙井", "parent": str(grandchild.pk), "sort_order": "0", "is_visible": "on"},
    )
    # then
    assert response.status_code == 200
    assert "分类最多三级" in response.content.decode()
    assert not Category.objects.filter(name="龙井").exists()


def test_hiding_a_category_in_the_admin_hides_its_products(admin_client, api_client):
    # given
    tea = CategoryFactory(name="茶")
    product_with_skus(title="龙井", category=tea, skus=[{"price_fen": 100}])
    assert api_client.get("/api/v1/products").json()["count"] == 1
    # when
    response = admin_client.post(
        f"/admin/catalog/category/{tea.pk}/change/",
        {"name": "茶", "parent": "", "sort_order": "0"},  # is_visible unchecked
    )
    # then
    assert response.status_code == 302
    assert api_client.get("/api/v1/products").json()["count"] == 0


def test_other_catalog_admin_pages_load(admin_client):
    TagFactory(name="新品")
    CategoryFactory(name="茶")
    for path in [
        "/admin/catalog/category/",
        "/admin/catalog/brand/",
        "/admin/catalog/tag/",
        "/admin/catalog/searchkeyword/",
        "/admin/catalog/product/add/",
    ]:
        assert admin_client.get(path).status_code == 200, path
    cache.clear()
