"""Points mall (积分商城): a SKU item with a cash part is an order like any other (previewed,
created, paid through WeChat, refunded: points and the item's stock come back); a coupon item is
exchanged at once, idempotently, within stock and the per-member limit."""

from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import pytest
from django.db import connection

from catalog.tests.factories import SkuFactory
from marketing.models import Coupon, PointsMallExchange, PointsMallItem
from marketing.services.points_mall import points_mall_coupon_exchange
from marketing.tests.coupon_factories import CouponTemplateFactory
from members.models import Member
from members.points import points_earn
from members.tests.factories import MemberFactory
from orders.models import Order
from orders.services import order_cancel
from orders.tests.factories import AddressFactory
from payments.tests.conftest import refund_and_settle


def _points(member_id):
    return Member.objects.values_list("points_balance", flat=True).get(pk=member_id)


@pytest.fixture
def shopper(member_login, settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9"  # notifications go nowhere; pay/sync settles
    member_id, client = member_login(f"o-pm-{uuid4().hex[:8]}")
    points_earn(member_id=member_id, points=5000, source_key=f"test:{member_id}")
    return member_id, client, AddressFactory(member_id=member_id)


@pytest.fixture
def sku_item(db):
    sku = SkuFactory(price_fen=8800, stock=100)
    return PointsMallItem.objects.create(
        title="龙井 100g 积分兑",
        kind="sku",
        sku=sku,
        points=1000,
        cash_fen=1900,
        stock=5,
        per_member_limit=1,
    )


def _body(item, address, qty=1):
    return {
        "lines": [{"sku_id": item.sku_id, "quantity": qty}],
        "address_id": address.pk,
        "promotion": {"kind": "points_mall", "id": item.pk},
    }


def _order(client, item, address, qty=1):
    preview = client.post("/api/v1/checkout/preview", _body(item, address, qty), format="json")
    assert preview.status_code == 200, preview.content
    response = client.post(
        "/api/v1/orders",
        _body(item, address, qty) | {"expected_payable_fen": preview.json()["payable_fen"]},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid4().hex,
    )
    return preview.json(), response


@pytest.mark.django_db
def test_sku_exchange_with_cash_is_paid_and_refunded_like_any_order(
    shopper, sku_item, wechat_sim, django_capture_on_commit_callbacks
):
    member_id, client, address = shopper
    # when: previewed and ordered
    preview, response = _order(client, sku_item, address)

    # then: the goods cost 19 yuan + 1000 points
    assert response.status_code == 201, response.content
    discount = next(d for d in preview["discounts"] if d["source"] == "points_mall")
    assert (discount["amount_fen"], discount["ref"]) == (8800 - 1900, f"points_mall:{sku_item.pk}")
    assert (preview["points_used"], preview["payable_fen"]) == (1000, 1900)
    order = Order.objects.get(no=response.json()["no"])
    assert (order.promotion_kind, order.points_used, order.wechat_pay_fen) == (
        "points_mall",
        1000,
        1900,
    )
    exchange = PointsMallExchange.objects.get(order_id=order.pk)
    sku_item.refresh_from_db()
    assert (exchange.status, exchange.points, sku_item.stock) == (
        PointsMallExchange.Status.HELD,
        1000,
        4,
    )
    assert _points(member_id) == 4000

    # when: the shopper pays the cash part through WeChat
    answer = client.post(f"/api/v1/orders/{order.no}/pay").json()
    wechat_sim.control("POST", "pay", json=answer["request_payment"])
    assert client.post(f"/api/v1/orders/{order.no}/pay/sync").json()["paid"] is True

    # then
    exchange.refresh_from_db()
    assert exchange.status == PointsMallExchange.Status.DONE

    # when: the whole order is refunded
    wechat_sim.control("POST", "faults", json={"refund_delay_s": 0})
    refund_and_settle(
        django_capture_on_commit_callbacks,
        order_id=order.pk,
        lines=None,
        reason="不想要了",
        requested_by="admin:test",
        restock=False,
    )

    # then: the points and the item's stock are back; the limit is free again
    order.refresh_from_db()
    exchange.refresh_from_db()
    sku_item.refresh_from_db()
    assert order.status == "closed"
    assert (exchange.status, sku_item.stock, sku_item.exchanged_count) == (
        PointsMallExchange.Status.REFUNDED,
        5,
        0,
    )
    assert _points(member_id) == 5000
    _, again = _order(client, sku_item, address)
    assert again.status_code == 201, again.content


@pytest.mark.django_db
def test_cancelled_exchange_gives_back_stock_and_points(shopper, sku_item):
    member_id, client, address = shopper
    _, response = _order(client, sku_item, address)
    order = Order.objects.get(no=response.json()["no"])

    # when
    order_cancel(order_id=order.pk, actor=f"member:{member_id}")

    # then
    sku_item.refresh_from_db()
    assert (
        PointsMallExchange.objects.get(order_id=order.pk).status
        == PointsMallExchange.Status.RELEASED
    )
    assert (sku_item.stock, _points(member_id)) == (5, 5000)


@pytest.mark.django_db
def test_limit_stock_and_points_are_checked(shopper, sku_item):
    member_id, client, address = shopper
    # a second unit beyond the per-member limit
    over = client.post("/api/v1/checkout/preview", _body(sku_item, address, 2), format="json")
    assert over.json()["code"] == "points_mall_limit_reached"
    # not enough points
    Member.objects.filter(pk=member_id).update(points_balance=10)
    preview = client.post("/api/v1/checkout/preview", _body(sku_item, address), format="json")
    assert preview.status_code == 409
    assert preview.json()["code"] == "points_unavailable"
    # another SKU than the item's, or two lines
    body = _body(sku_item, address)
    body["lines"].append({"sku_id": SkuFactory().pk, "quantity": 1})
    two = client.post("/api/v1/checkout/preview", body, format="json")
    assert two.json()["code"] == "promotion_unavailable"
    assert PointsMallExchange.objects.count() == 0


@pytest.mark.django_db
def test_coupon_exchange_is_idempotent_and_limited(shopper, django_assert_max_num_queries):
    member_id, client, _ = shopper
    template = CouponTemplateFactory(kind="cash", threshold_fen=0, amount_fen=500)
    item = PointsMallItem.objects.create(
        title="5元券", kind="coupon", coupon_template=template, points=800, stock=10
    )
    for n in range(10):
        PointsMallItem.objects.create(
            title=f"券{n}", kind="coupon", coupon_template=template, points=100, stock=1
        )

    # when
    url = f"/api/v1/points-mall/items/{item.pk}/exchange"
    first = client.post(url, HTTP_IDEMPOTENCY_KEY="k1")
    replay = client.post(url, HTTP_IDEMPOTENCY_KEY="k1")
    second = client.post(url, HTTP_IDEMPOTENCY_KEY="k2")
    with django_assert_max_num_queries(5):
        listing = client.get("/api/v1/points-mall/items")

    # then
    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.json() == first.json()
    assert second.json()["code"] == "points_mall_limit_reached"
    coupon = Coupon.objects.get(member_id=member_id)
    assert (coupon.source, coupon.pk) == ("points_mall", first.json()["coupon_id"])
    assert _points(member_id) == 5000 - 800
    item.refresh_from_db()
    assert (item.stock, item.exchanged_count) == (9, 1)
    assert listing.json()["count"] == 11


@pytest.mark.django_db
def test_coupon_exchange_without_enough_points_writes_nothing(shopper):
    _member_id, client, _ = shopper
    template = CouponTemplateFactory(kind="cash", threshold_fen=0, amount_fen=500)
    item = PointsMallItem.objects.create(
        title="大额券", kind="coupon", coupon_template=template, points=9000, stock=10
    )

    # when
    response = client.post(
        f"/api/v1/points-mall/items/{item.pk}/exchange", HTTP_IDEMPOTENCY_KEY="k"
    )

    # then
    item.refresh_from_db()
    assert response.status_code == 409
    assert response.json()["code"] == "points_insufficient"
    assert (item.stock, PointsMallExchange.objects.count(), Coupon.objects.count()) == (10, 0, 0)


@pytest.mark.django_db(transaction=True)
def test_concurrent_coupon_exchanges_never_oversell():
    # given: 3 coupons in stock, 8 members with points
    template = CouponTemplateFactory(kind="cash", threshold_fen=0, amount_fen=500)
    item = PointsMallItem.objects.create(
        title="限量券", kind="coupon", coupon_template=template, points=100, stock=3
    )
    members = MemberFactory.create_batch(8)
    for member in members:
        points_earn(member_id=member.pk, points=100, source_key=f"test:{member.pk}")

    def exchange(member):
        try:
            points_mall_coupon_exchange(member=member, item_id=item.pk, client_token="t")
            return "ok"
        except Exception as exc:
            return type(exc).__name__
        finally:
            connection.close()

    # when
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(exchange, members))

    # then
    item.refresh_from_db()
    assert outcomes.count("ok") == 3
    assert set(outcomes) == {"ok", "PointsMallSoldOut"}
    assert (item.stock, PointsMallExchange.objects.count(), Coupon.objects.count()) == (0, 3, 3)


@pytest.mark.django_db
def test_a_points_only_item_picked_up_costs_nothing_and_is_paid_at_once(shopper):
    # given: 2,000 points, no cash part, collected at a pickup point (no shipping)
    from orders.tests.factories import PickupPointFactory

    member_id, client, _ = shopper
    item = PointsMallItem.objects.create(
        title="茶杯 纯积分兑",
        kind="sku",
        sku=SkuFactory(price_fen=3900, stock=10),
        points=2000,
        cash_fen=0,
        stock=5,
        per_member_limit=1,
    )
    body = {
        "lines": [{"sku_id": item.sku_id, "quantity": 1}],
        "pickup_point_id": PickupPointFactory().pk,
        "promotion": {"kind": "points_mall", "id": item.pk},
    }
    preview = client.post("/api/v1/checkout/preview", body, format="json").json()
    # then: the goods are free, the points pay for them
    assert (preview["payable_fen"], preview["points_used"], preview["wechat_pay_fen"]) == (
        0,
        2000,
        0,
    )
    response = client.post(
        "/api/v1/orders",
        body | {"expected_payable_fen": 0},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid4().hex,
    )
    assert response.status_code == 201, response.content
    no = response.json()["no"]
    # when: the shopper "pays": nothing goes to WeChat
    assert client.post(f"/api/v1/orders/{no}/pay", {}, format="json").json() == {"paid": True}
    assert Order.objects.get(no=no).status == "paid"
    assert _points(member_id) == 5000 - 2000
    assert (
        PointsMallExchange.objects.get(order_id=Order.objects.get(no=no).pk).status
        == PointsMallExchange.Status.DONE
    )
