import json
from decimal import Decimal

import pytest
from rest_framework.renderers import JSONRenderer

from catalog.models import Sku
from catalog.tests.factories import SkuFactory
from members.tests.factories import MemberFactory
from orders.api.serializers import OrderDetailOutputSerializer, order_detail_output
from orders.models import CartItem, Order
from orders.selectors import order_get_for_member
from orders.services import order_cancel, order_receive, order_ship, order_transition
from orders.tests.factories import AddressFactory, PickupPointFactory

pytestmark = pytest.mark.django_db


def pay(order):
    order_transition(
        order_id=order.pk, from_status="pending_payment", to_status="paid", actor="wechat"
    )


def ship(order):
    pay(order)
    order_ship(order_id=order.pk, carrier="SF", tracking_no=f"SF{order.pk}", actor="admin:boss")


@pytest.fixture
def orders_in_every_tab(member, place_order, address):
    """3 unpaid, 3 paid, 2 shipped, 2 received, 1 completed-by-status, 1 cancelled: 12 orders."""
    skus = SkuFactory.create_batch(3, price_fen=1000)
    made = [
        place_order(member, [(skus[i % 3], 1), (skus[(i + 1) % 3], 2)], address=address)
        for i in range(12)
    ]
    for order in made[3:6]:
        pay(order)
    for order in made[6:10]:
        ship(order)
    for order in made[8:10]:
        order_receive(order_id=order.pk, actor="member:1")
    order_cancel(order_id=made[10].pk, actor="member:1", reason="")
    Order.objects.filter(pk=made[11].pk).update(status="completed")
    return made


def test_list_newest_first_with_tab_counts(shopper_client, orders_in_every_tab):
    # when
    body = shopper_client.get("/api/v1/orders").json()
    # then
    assert body["count"] == 12
    assert body["counts"] == {"pending_payment": 3, "paid": 3, "shipped": 2, "completed": 3}
    assert [o["no"] for o in body["results"]] == [o.no for o in reversed(orders_in_every_tab)][:10]
    first = body["results"][0]
    assert first["total_quantity"] == 3
    assert len(first["lines"]) == 2
    assert body["next"] is not None


@pytest.mark.parametrize(
    ("tab", "count"),
    [
        ("pending_payment", 3),
        ("paid", 3),
        ("shipped", 2),
        ("completed", 3),
        ("received", 2),
        ("cancelled", 1),
    ],
)
def test_list_by_tab(shopper_client, orders_in_every_tab, tab, count):
    body = shopper_client.get(f"/api/v1/orders?status={tab}").json()
    assert body["count"] == count
    assert all(
        o["status"] in ({tab} if tab != "completed" else {"received", "completed"})
        for o in body["results"]
    )


def test_unknown_tab_is_invalid(shopper_client):
    response = shopper_client.get("/api/v1/orders?status=nope")
    assert (response.status_code, response.json()["code"]) == (400, "invalid")


def test_list_query_budget_is_constant(
    shopper_client, orders_in_every_tab, django_assert_num_queries
):
    # count, page, lines, tab counts
    with django_assert_num_queries(4):
        response = shopper_client.get("/api/v1/orders?page_size=20")
    assert len(response.json()["results"]) == 12


def test_detail_query_budget(shopper_client, orders_in_every_tab, django_assert_num_queries):
    with django_assert_num_queries(3):  # order + pickup point, lines, timeline
        response = shopper_client.get(f"/api/v1/orders/{orders_in_every_tab[8].no}")
    body = response.json()
    assert body["status"] == "received"
    assert body["status_label"] == "已收货"
    assert [e["status"] for e in body["timeline"]] == [
        "pending_payment",
        "paid",
        "shipped",
        "received",
    ]
    assert (
        body["breakdown"]["payable_fen"]
        == body["payable_fen"]
        == 3000
        == sum(x["paid_fen"] for x in body["lines"])
    )
    assert body["tracking_no"].startswith("SF")


def test_detail_dict_is_what_the_detail_serializer_answers(
    member, place_order, orders_in_every_tab
):
    # given: orders in every status, and a paid pickup order (pickup point, code, coordinates)
    point = PickupPointFactory(latitude=Decimal("30.259244"), longitude=Decimal("120.130190"))
    pickup = place_order(member, [(SkuFactory(price_fen=800), 1)], pickup_point=point)
    pay(pickup)
    render = JSONRenderer().render
    for made in [*orders_in_every_tab, pickup]:
        order = order_get_for_member(member=member, no=made.no)
        # when / then: the same JSON, byte for byte
        assert render(order_detail_output(order)) == render(OrderDetailOutputSerializer(order).data)


def test_created_order_answers_its_detail(member, shopper_client, address):
    # given
    skus = SkuFactory.create_batch(3, price_fen=1000)
    body = {
        "lines": [{"sku_id": sku.pk, "quantity": n + 1} for n, sku in enumerate(skus)],
        "address_id": address.pk,
        "note": "放门口",
        "expected_payable_fen": 6000,
    }
    # when
    created = shopper_client.post("/api/v1/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    # then: the answer built from the objects in hand is the order as stored
    assert created.status_code == 201, created.json()
    order = order_get_for_member(member=member, no=created.json()["no"])
    stored = json.loads(JSONRenderer().render(OrderDetailOutputSerializer(order).data))
    assert created.json() == stored
    assert [line["sku_id"] for line in stored["lines"]] == [sku.pk for sku in skus]
    assert [entry["status"] for entry in stored["timeline"]] == ["pending_payment"]


def test_another_members_order_is_not_found(client_for, place_order, sku):
    # given
    owner = MemberFactory()
    order = place_order(owner, [(sku, 1)], address=AddressFactory(member=owner))
    stranger = client_for(MemberFactory())
    base = f"/api/v1/orders/{order.no}"
    # when
    answers = [
        stranger.get(base).status_code,
        stranger.post(f"{base}/cancel", {}, format="json").status_code,
        stranger.post(f"{base}/receive").status_code,
        stranger.post(f"{base}/buy-again").status_code,
        stranger.delete(base).status_code,
    ]
    # then
    assert answers == [404] * 5
    order.refresh_from_db()
    assert order.status == "pending_payment"
    assert not order.is_deleted_by_member
    assert not CartItem.objects.exists()


def test_cancel_through_the_api(member, shopper_client, place_order, address):
    # given
    sku = SkuFactory(stock=5)
    unpaid, paid = (place_order(member, [(sku, 1)], address=address) for _ in range(2))
    pay(paid)
    # when
    cancelled = shopper_client.post(
        f"/api/v1/orders/{unpaid.no}/cancel", {"reason": "不要了"}, format="json"
    )
    refused = shopper_client.post(f"/api/v1/orders/{paid.no}/cancel", {}, format="json")
    # then
    assert cancelled.status_code == 200
    assert (cancelled.json()["status"], cancelled.json()["cancel_reason"]) == (
        "cancelled",
        "不要了",
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "order_status_invalid")
    assert Sku.objects.get(pk=sku.pk).stock == 4


def test_soft_delete_only_finished_orders(member, shopper_client, place_order, address, sku):
    # given
    open_order, finished = (place_order(member, [(sku, 1)], address=address) for _ in range(2))
    order_cancel(order_id=finished.pk, actor="member:1", reason="")
    # when
    refused = shopper_client.delete(f"/api/v1/orders/{open_order.no}")
    deleted = shopper_client.delete(f"/api/v1/orders/{finished.no}")
    # then
    assert (refused.status_code, refused.json()["code"]) == (409, "order_status_invalid")
    assert deleted.status_code == 204
    assert [o["no"] for o in shopper_client.get("/api/v1/orders").json()["results"]] == [
        open_order.no
    ]
    assert shopper_client.get(f"/api/v1/orders/{finished.no}").status_code == 404
    assert Order.objects.filter(pk=finished.pk, is_deleted_by_member=True).exists()


def test_buy_again_adds_what_can_be_bought(member, shopper_client, place_order, address):
    # given
    available, gone = SkuFactory(price_fen=100), SkuFactory(price_fen=200)
    order = place_order(member, [(available, 2), (gone, 1)], address=address)
    gone.product.is_on_shelf = False
    gone.product.save()
    # when
    response = shopper_client.post(f"/api/v1/orders/{order.no}/buy-again")
    # then
    assert response.status_code == 200
    assert response.json()["added"] == [available.pk]
    assert [(x["sku_id"], x["code"]) for x in response.json()["unavailable"]] == [
        (gone.pk, "product_unavailable")
    ]
    assert list(CartItem.objects.filter(member=member).values_list("sku_id", "quantity")) == [
        (available.pk, 2)
    ]
