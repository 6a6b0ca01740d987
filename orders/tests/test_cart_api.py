import pytest

from catalog.tests.factories import SkuFactory
from members.tests.factories import MemberFactory
from orders.models import CartItem

pytestmark = pytest.mark.django_db

URL = "/api/v1/cart/items"


def test_add_merges_with_the_existing_line(member, shopper_client, sku):
    # given
    shopper_client.post(URL, {"sku_id": sku.pk, "quantity": 1}, format="json")
    # when
    response = shopper_client.post(URL, {"sku_id": sku.pk, "quantity": 2}, format="json")
    # then
    assert response.status_code == 201
    [line] = response.json()["results"]
    assert (line["sku_id"], line["quantity"], line["state"], line["price_fen"]) == (
        sku.pk,
        3,
        "ok",
        1999,
    )
    assert response.json()["totals"] == {
        "selected_count": 1,
        "selected_quantity": 3,
        "selected_goods_fen": 5997,
    }
    assert CartItem.objects.filter(member=member).count() == 1


def test_lines_show_price_changes_and_stock_state(member, shopper_client):
    # given
    changed, off, sold_out, short = (SkuFactory(price_fen=1000, stock=10) for _ in range(4))
    for sku in (changed, off, sold_out, short):
        shopper_client.post(URL, {"sku_id": sku.pk, "quantity": 2}, format="json")
    changed.price_fen = 900
    changed.save()
    off.product.is_on_shelf = False
    off.product.save()
    sold_out.stock = 0
    sold_out.save()
    short.stock = 1
    short.save()
    # when
    body = shopper_client.get(URL).json()
    # then
    by_sku = {line["sku_id"]: line for line in body["results"]}
    assert by_sku[changed.pk]["price_changed"] is True
    assert (by_sku[changed.pk]["added_price_fen"], by_sku[changed.pk]["price_fen"]) == (1000, 900)
    assert [by_sku[s.pk]["state"] for s in (changed, off, sold_out, short)] == [
        "ok",
        "off_shelf",
        "sold_out",
        "insufficient_stock",
    ]
    assert body["totals"] == {
        "selected_count": 1,
        "selected_quantity": 2,
        "selected_goods_fen": 1800,
    }
    assert body["count"] == 4


def test_hidden_category_makes_a_line_off_shelf(member, shopper_client, sku):
    shopper_client.post(URL, {"sku_id": sku.pk, "quantity": 1}, format="json")
    sku.product.category.is_visible = False
    sku.product.category.save()
    assert shopper_client.get(URL).json()["results"][0]["state"] == "off_shelf"


def test_update_selection_and_quantity_and_delete(member, shopper_client, sku):
    # given
    item_id = shopper_client.post(URL, {"sku_id": sku.pk, "quantity": 1}, format="json").json()[
        "results"
    ][0]["id"]
    # when
    patched = shopper_client.patch(
        f"{URL}/{item_id}", {"quantity": 4, "selected": False}, format="json"
    )
    deleted = shopper_client.delete(f"{URL}/{item_id}")
    # then
    assert patched.status_code == 200
    assert (patched.json()["results"][0]["quantity"], patched.json()["results"][0]["selected"]) == (
        4,
        False,
    )
    assert patched.json()["totals"]["selected_count"] == 0
    assert deleted.status_code == 204
    assert not CartItem.objects.exists()


@pytest.mark.parametrize(
    ("make_sku", "quantity", "status", "code"),
    [
        (lambda: SkuFactory(stock=2), 3, 409, "out_of_stock"),
        (lambda: SkuFactory(is_active=False), 1, 409, "product_unavailable"),
        (lambda: SkuFactory(product__is_on_shelf=False), 1, 409, "product_unavailable"),
        (lambda: SkuFactory(), 0, 400, "invalid"),
    ],
)
def test_add_errors(shopper_client, make_sku, quantity, status, code):
    response = shopper_client.post(
        URL, {"sku_id": make_sku().pk, "quantity": quantity}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert not CartItem.objects.exists()


def test_cart_is_bounded(member, shopper_client, settings):
    settings.CART_MAX_ITEMS = 2
    for sku in SkuFactory.create_batch(2):
        shopper_client.post(URL, {"sku_id": sku.pk, "quantity": 1}, format="json")
    response = shopper_client.post(URL, {"sku_id": SkuFactory().pk, "quantity": 1}, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "cart_full")


def test_client_cannot_write_price_or_owner(member, shopper_client, sku):
    other = MemberFactory()
    shopper_client.post(
        URL,
        {
            "sku_id": sku.pk,
            "quantity": 1,
            "added_price_fen": 1,
            "price_fen": 1,
            "member": other.pk,
            "state": "ok",
        },
        format="json",
    )
    item = CartItem.objects.get()
    assert (item.member_id, item.added_price_fen) == (member.pk, 1999)


def test_another_members_line_is_not_found(shopper_client, client_for, sku):
    other_client = client_for(MemberFactory())
    item_id = other_client.post(URL, {"sku_id": sku.pk, "quantity": 1}, format="json").json()[
        "results"
    ][0]["id"]
    assert (
        shopper_client.patch(f"{URL}/{item_id}", {"quantity": 2}, format="json").status_code == 404
    )
    assert shopper_client.delete(f"{URL}/{item_id}").status_code == 404
    assert shopper_client.get(URL).json()["count"] == 0
    assert CartItem.objects.get(pk=item_id).quantity == 1


def test_cart_query_budget(member, shopper_client, django_assert_num_queries):
    for sku in SkuFactory.create_batch(12):
        CartItem.objects.create(member=member, sku=sku, quantity=1, added_price_fen=sku.price_fen)
    with django_assert_num_queries(1):
        response = shopper_client.get(URL)
    assert response.json()["count"] == 12
