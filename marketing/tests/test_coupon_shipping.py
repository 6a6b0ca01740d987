"""运费券 through the real PromotionProvider: judged once shipping is known (apply_shipping),
chosen or picked for the shopper, capped by the fee, refused when there is no fee, and locked
with the order like any coupon."""

from uuid import uuid4

import pytest

from catalog.tests.factories import SkuFactory
from marketing.models import Coupon, CouponTemplate
from marketing.providers.campaigns import PromotionProvider
from marketing.services.coupons import coupons_issue
from marketing.tests.coupon_factories import CouponTemplateFactory
from members.models import Member
from orders.models import Order
from orders.tests.factories import (
    AddressFactory,
    FreightRuleFactory,
    FreightTemplateFactory,
    PickupPointFactory,
)
from orders.tests.providers import use_providers

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(monkeypatch, member_login):
    use_providers(monkeypatch, PromotionProvider())
    template = FreightTemplateFactory(is_default=True, charge_by="piece", free_over_fen=None)
    FreightRuleFactory(template=template, first_fee_fen=1200, extra_fee_fen=300)
    member_id, client = member_login(f"o-ship-{uuid4().hex[:8]}")
    member = Member.objects.get(pk=member_id)
    return {
        "member": member,
        "client": client,
        "address": AddressFactory(member=member),
        "sku": SkuFactory(price_fen=5000, stock=100),
    }


def shipping_coupon(shop, amount_fen=1000):
    template = CouponTemplateFactory(
        kind=CouponTemplate.Kind.SHIPPING, threshold_fen=0, amount_fen=amount_fen
    )
    (coupon,) = coupons_issue(template_id=template.pk, member_ids=[shop["member"].pk])
    return coupon


def body(shop, **extra):
    return {
        "lines": [{"sku_id": shop["sku"].pk, "quantity": 2}],
        "address_id": shop["address"].pk,
    } | extra


def preview(shop, **extra):
    return shop["client"].post("/api/v1/checkout/preview", body(shop, **extra), format="json")


def test_a_chosen_shipping_coupon_takes_the_fee_up_to_its_amount(shop):
    coupon = shipping_coupon(shop, amount_fen=1000)
    answer = preview(shop, coupon_id=coupon.pk).json()
    assert answer["shipping_fen"] == 1500  # 1,200 + one extra piece 300
    assert answer["discounts"] == [
        {
            "source": "coupon",
            "name": coupon.template.name,
            "amount_fen": 1000,
            "ref": f"coupon:{coupon.pk}",
            "auto": False,
        }
    ]
    assert answer["payable_fen"] == 10000 + 1500 - 1000
    assert sum(line["paid_fen"] for line in answer["lines"]) == answer["payable_fen"]


def test_a_free_shipping_coupon_is_capped_by_the_fee_and_locked_with_the_order(shop):
    coupon = shipping_coupon(shop, amount_fen=0)  # 0: the whole fee
    answer = preview(shop, coupon_id=coupon.pk).json()
    assert [d["amount_fen"] for d in answer["discounts"]] == [1500]
    response = shop["client"].post(
        "/api/v1/orders",
        body(shop, coupon_id=coupon.pk, expected_payable_fen=answer["payable_fen"]),
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid4().hex,
    )
    assert response.status_code == 201, response.content
    order = Order.objects.get(no=response.json()["no"])
    assert order.payable_fen == 10000
    coupon.refresh_from_db()
    assert (coupon.status, coupon.order_id) == (Coupon.Status.LOCKED, order.pk)


def test_when_none_is_chosen_the_shipping_coupon_is_picked_for_the_shopper(shop):
    coupon = shipping_coupon(shop, amount_fen=800)
    answer = preview(shop).json()
    assert [(d["ref"], d["amount_fen"], d["auto"]) for d in answer["discounts"]] == [
        (f"coupon:{coupon.pk}", 800, True)
    ]
    # and "no coupon" means none
    assert preview(shop, coupon_id=0).json()["discounts"] == []


def test_a_goods_coupon_wins_over_a_shipping_coupon_one_coupon_per_order(shop):
    shipping_coupon(shop, amount_fen=1500)
    template = CouponTemplateFactory(threshold_fen=10000, amount_fen=3000)
    (goods_coupon,) = coupons_issue(template_id=template.pk, member_ids=[shop["member"].pk])
    answer = preview(shop).json()
    assert [d["ref"] for d in answer["discounts"]] == [f"coupon:{goods_coupon.pk}"]


def test_a_shipping_coupon_on_a_pickup_order_is_refused(shop):
    coupon = shipping_coupon(shop)
    point = PickupPointFactory()
    response = shop["client"].post(
        "/api/v1/checkout/preview",
        {
            "lines": [{"sku_id": shop["sku"].pk, "quantity": 1}],
            "pickup_point_id": point.pk,
            "coupon_id": coupon.pk,
        },
        format="json",
    )
    assert (response.status_code, response.json()["code"]) == (409, "coupon_unavailable")
