"""Coupons shopper API: claim centre, claim, redeem, wallet tabs (query budget), and the coupons
usable for a checkout with the reason the others are not."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.tests.factories import CategoryFactory, ProductFactory, SkuFactory
from marketing.models import Coupon
from marketing.services.coupons import (
    coupon_codes_generate,
    coupon_lock_for_order,
    coupon_mark_used_for_order,
    coupons_issue,
)
from marketing.tests.coupon_factories import CouponTemplateFactory
from members.tests.factories import MemberFactory
from orders.tests.factories import AddressFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def member():
    return MemberFactory()


@pytest.fixture
def client(member):
    client = APIClient()
    client.force_authenticate(user=member)
    return client


def test_claim_centre_lists_what_i_can_still_claim(client, member, django_assert_max_num_queries):
    # given
    open_ = CouponTemplateFactory(total_quantity=100, per_member_limit=2)
    sold_out = CouponTemplateFactory(total_quantity=1)
    coupons_issue(template_id=sold_out.pk, member_ids=[MemberFactory().pk])
    CouponTemplateFactory(is_claimable=False)  # not shown
    CouponTemplateFactory(ends_at=timezone.now() - timedelta(days=1))  # over: not shown
    for _ in range(10):
        CouponTemplateFactory()
    client.post(f"/api/v1/coupons/{open_.pk}/claim")
    # when
    with django_assert_max_num_queries(2):
        response = client.get("/api/v1/coupons/available?page_size=50")
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 12
    by_id = {row["id"]: row for row in body["results"]}
    assert (by_id[open_.pk]["claimed"], by_id[open_.pk]["remaining"]) == (1, 99)
    assert by_id[open_.pk]["can_claim"] is True
    assert (by_id[sold_out.pk]["state"], by_id[sold_out.pk]["can_claim"]) == ("sold_out", False)


def test_claim_answers_the_coupon_and_errors_by_code(client):
    template = CouponTemplateFactory(per_member_limit=1)
    response = client.post(f"/api/v1/coupons/{template.pk}/claim")
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "unused"
    assert response.json()["template"]["kind"] == "full_reduction"
    again = client.post(f"/api/v1/coupons/{template.pk}/claim")
    assert (again.status_code, again.json()["code"]) == (409, "coupon_limit_reached")
    missing = client.post("/api/v1/coupons/999999/claim")
    assert (missing.status_code, missing.json()["code"]) == (404, "coupon_not_found")


def test_redeem_a_code(client):
    template = CouponTemplateFactory()
    code = (
        coupon_codes_generate(template_id=template.pk, name="b", kind="single", quantity=1)
        .codes.get()
        .code
    )
    response = client.post("/api/v1/coupons/redeem", {"code": f" {code.lower()} "}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["source"] == "code"
    used = client.post("/api/v1/coupons/redeem", {"code": code}, format="json")
    assert (used.status_code, used.json()["code"]) == (409, "coupon_code_used")
    bad = client.post("/api/v1/coupons/redeem", {"code": "NOSUCHCODE"}, format="json")
    assert (bad.status_code, bad.json()["code"]) == (400, "coupon_code_invalid")
    assert client.post("/api/v1/coupons/redeem", {}, format="json").json()["code"] == "invalid"


def test_wallet_tabs_with_a_fixed_query_count(client, member, django_assert_max_num_queries):
    # given 12 usable, 2 used (one by a paid order, one held by an unpaid one), 3 expired
    now = timezone.now()
    usable = CouponTemplateFactory()
    coupons = coupons_issue(template_id=usable.pk, member_ids=[member.pk] * 1)
    for _ in range(11):
        coupons += coupons_issue(template_id=CouponTemplateFactory().pk, member_ids=[member.pk])
    coupon_lock_for_order(coupon_id=coupons[0].pk, member_id=member.pk, order_id=1, now=now)
    coupon_mark_used_for_order(order_id=1)
    coupon_lock_for_order(coupon_id=coupons[1].pk, member_id=member.pk, order_id=2, now=now)
    for _ in range(3):
        coupons_issue(template_id=CouponTemplateFactory().pk, member_ids=[member.pk])
    Coupon.objects.filter(pk__in=Coupon.objects.order_by("-id").values("pk")[:3]).update(
        valid_until=now - timedelta(minutes=1)
    )
    coupons_issue(template_id=usable.pk, member_ids=[MemberFactory().pk])  # someone else's
    # when / then
    with django_assert_max_num_queries(2):
        page = client.get("/api/v1/me/coupons?page_size=20").json()
    assert page["count"] == 10
    assert {row["status"] for row in page["results"]} == {"unused"}
    with django_assert_max_num_queries(2):
        used = client.get("/api/v1/me/coupons?status=used").json()
    assert sorted(row["status"] for row in used["results"]) == ["locked", "used"]
    expired = client.get("/api/v1/me/coupons?status=expired").json()
    assert (expired["count"], {row["status"] for row in expired["results"]}) == (3, {"expired"})
    assert client.get("/api/v1/me/coupons?status=nope").status_code == 400


def test_coupons_for_checkout_say_which_apply_and_why_not(client, member):
    # given a 120 元 tea in 绿茶 (under 茶叶) and a 30 元 cup
    tea_category = CategoryFactory(name="绿茶", parent=CategoryFactory(name="茶叶"))
    tea = SkuFactory(price_fen=6000, product=ProductFactory(category=tea_category))
    cup = SkuFactory(price_fen=3000)
    address = AddressFactory(member=member)

    def give(**fields):
        template = CouponTemplateFactory(**fields)
        return coupons_issue(template_id=template.pk, member_ids=[member.pk])[0].pk

    full_150 = give(threshold_fen=15000, amount_fen=2000)
    tea_only = give(
        kind="discount",
        threshold_fen=0,
        rate_bp=8000,
        cap_fen=0,
        scope="categories",
        category_ids=[tea_category.parent_id],
    )
    cash = give(kind="cash", threshold_fen=0, amount_fen=500)
    exchange_cup = give(kind="exchange", threshold_fen=0, amount_fen=0, sku=cup)
    later = give(starts_at=timezone.now() + timedelta(days=1))
    # when
    response = client.post(
        "/api/v1/coupons/for-checkout",
        {
            "lines": [{"sku_id": tea.pk, "quantity": 2}],
            "address_id": address.pk,
            "coupon_id": cash,
        },
        format="json",
    )
    # then
    assert response.status_code == 200, response.content
    rows = [
        (r["coupon"]["id"], r["usable"], r["amount_fen"], r["is_best"])
        for r in response.json()["results"]
    ]
    assert rows[:2] == [(tea_only, True, 2400, True), (cash, True, 500, False)]
    reasons = {r["coupon"]["id"]: r["reason"] for r in response.json()["results"][2:]}
    assert reasons == {
        full_150: "适用商品满150.00元可用，还差30.00元",
        exchange_cup: "本单没有可兑换的商品",
        later: "未到使用时间",
    }


def test_shopper_endpoints_need_a_login():
    anonymous = APIClient()
    assert anonymous.get("/api/v1/me/coupons").status_code == 401
    assert anonymous.get("/api/v1/coupons/available").status_code == 401
