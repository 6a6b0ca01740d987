"""The discount-provider contract of mall/discounts.py as order creation honours it: choices
judged by providers, commit() inside the order's transaction, promotion-held stock, a shorter
payment timeout, and points taken with the order and given back on cancel."""

from uuid import uuid4

import pytest

from catalog.tests.factories import SkuFactory
from members.models import Member
from orders.models import Order, OrderLine
from orders.services import order_cancel
from orders.tests.providers import CouponJudge, PoolPrice, use_providers

pytestmark = pytest.mark.django_db


def post(client, path, body):
    return client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=uuid4().hex)


def test_a_promotion_holding_its_own_stock(settings, monkeypatch, member, shopper_client, address):
    # given
    use_providers(monkeypatch, PoolPrice())
    settings.ORDER_PAYMENT_TIMEOUT = 1800
    PoolPrice.commits.clear()
    pooled, normal = SkuFactory(price_fen=1000, stock=0), SkuFactory(price_fen=500, stock=5)
    body = {
        "lines": [{"sku_id": pooled.pk, "quantity": 2}, {"sku_id": normal.pk, "quantity": 1}],
        "address_id": address.pk,
        "promotion": {"kind": "test_pool", "id": pooled.pk},
    }
    # when: the SKU's own stock is 0, but the pool holds the units
    preview = post(shopper_client, "/api/v1/checkout/preview", body).json()
    response = post(
        shopper_client, "/api/v1/orders", body | {"expected_payable_fen": preview["payable_fen"]}
    )
    # then
    assert response.status_code == 201, response.json()
    order = Order.objects.get(no=response.json()["no"])
    assert preview["discounts"] == [
        {
            "source": "flash_sale",
            "name": "池价",
            "amount_fen": 200,
            "ref": f"pool:{pooled.pk}",
            "auto": False,
        }
    ]
    assert (order.promotion_kind, order.promotion_id) == ("test_pool", pooled.pk)
    assert round((order.expires_at - order.created_at).total_seconds()) == 300
    assert PoolPrice.commits == [(order.no, [f"pool:{pooled.pk}"])]
    held = dict(OrderLine.objects.filter(order=order).values_list("sku_id", "stock_held_by"))
    assert held == {pooled.pk: "test_pool", normal.pk: ""}
    pooled.refresh_from_db()
    normal.refresh_from_db()
    assert (pooled.stock, normal.stock) == (0, 4)

    # when: cancelled, only the SKU-held line goes back to the SKU
    order_cancel(order_id=order.pk, actor="test")
    pooled.refresh_from_db()
    normal.refresh_from_db()
    assert (pooled.stock, normal.stock) == (0, 5)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"coupon_id": 9}, 409, "coupon_unavailable"),
        ({"promotion": {"kind": "unknown", "id": 1}}, 409, "promotion_unavailable"),
    ],
)
def test_choices_no_provider_accepts_are_refused(
    monkeypatch, member, shopper_client, sku, address, body, status, code
):
    use_providers(monkeypatch, CouponJudge())
    response = post(
        shopper_client,
        "/api/v1/checkout/preview",
        {"lines": [{"sku_id": sku.pk, "quantity": 1}], "address_id": address.pk} | body,
    )
    assert (response.status_code, response.json()["code"]) == (status, code)


@pytest.mark.parametrize(
    ("coupon_id", "expected"),
    [(None, [("coupon:7", True)]), (7, [("coupon:7", False)]), (0, [])],
)
def test_coupon_none_means_best_zero_means_none(
    monkeypatch, member, shopper_client, sku, address, coupon_id, expected
):
    use_providers(monkeypatch, CouponJudge())
    body = {"lines": [{"sku_id": sku.pk, "quantity": 1}], "address_id": address.pk}
    if coupon_id is not None:
        body["coupon_id"] = coupon_id
    discounts = post(shopper_client, "/api/v1/checkout/preview", body).json()["discounts"]
    assert [(d["ref"], d["auto"]) for d in discounts] == expected


def test_points_are_taken_with_the_order_and_given_back_on_cancel(
    settings, member, shopper_client, address
):
    # given: 100 points = 1 yuan, at most half of the order
    settings.POINTS_PER_YUAN, settings.POINTS_MAX_DEDUCT_PERCENT = 100, 50
    member.points_balance = 5000
    member.save(update_fields=["points_balance"])
    sku = SkuFactory(price_fen=3000, stock=5)
    body = {
        "lines": [{"sku_id": sku.pk, "quantity": 1}],
        "pickup_point_id": None,
        "address_id": address.pk,
        "points": 2000,
    }
    preview = post(shopper_client, "/api/v1/checkout/preview", body).json()
    # when
    response = post(
        shopper_client, "/api/v1/orders", body | {"expected_payable_fen": preview["payable_fen"]}
    )
    # then
    assert response.status_code == 201, response.json()
    half = (3000 + preview["shipping_fen"]) // 2  # capped at 50 % of what is left to pay
    assert (preview["points_used"], preview["points_fen"]) == (half, half)
    assert preview["payable_fen"] == 3000 + preview["shipping_fen"] - half
    assert sum(line["paid_fen"] for line in preview["lines"]) == preview["payable_fen"]
    assert Member.objects.get(pk=member.pk).points_balance == 5000 - half
    # when: cancelled (twice: the second is a no-op)
    order = Order.objects.get(no=response.json()["no"])
    order_cancel(order_id=order.pk, actor="test")
    order_cancel(order_id=order.pk, actor="test")
    assert Member.objects.get(pk=member.pk).points_balance == 5000
