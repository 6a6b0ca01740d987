"""Campaigns through checkout: preview → order through the API with the real providers (as in
settings), usage rows and 限购 counters through the order's life, the product API's limited-time
price, and the campaigns API."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from uuid import uuid4

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.tests.factories import CategoryFactory, ProductFactory, SkuFactory, product_with_skus
from mall.errors import CampaignInvalid, CampaignPurchaseLimitReached
from marketing.models import Campaign, CampaignPurchase, CampaignUsage, Coupon
from marketing.services.campaigns import (
    ItemInput,
    TierInput,
    UsageInput,
    campaign_create,
    campaign_end_early,
    campaign_stats,
    campaign_usages_record,
)
from marketing.services.coupons import coupons_issue
from marketing.tests.coupon_factories import CouponTemplateFactory
from members.models import Member
from members.tests.factories import MemberFactory
from orders.models import Order
from orders.tests.factories import AddressFactory

pytestmark = pytest.mark.django_db


def window(**fields):
    now = timezone.now()
    return {"starts_at": now - timedelta(hours=1), "ends_at": now + timedelta(hours=2)} | fields


def manjian(**fields):
    return campaign_create(
        **window(
            name="满300减50，满500减100",
            kind=Campaign.Kind.FULL_REDUCTION,
            tiers=[TierInput(30000, reduce_fen=5000), TierInput(50000, reduce_fen=10000)],
        )
        | fields
    )


def limited(sku, *, price_fen=None, rate_bp=None, limit=0, **fields):
    return campaign_create(
        **window(
            name="限时折扣",
            kind=Campaign.Kind.LIMITED_TIME,
            items=[
                ItemInput(
                    sku_id=sku.pk, price_fen=price_fen, rate_bp=rate_bp, limit_per_member=limit
                )
            ],
        )
        | fields
    )


@pytest.fixture
def member(db):
    return MemberFactory(balance_fen=10**7)


@pytest.fixture
def client(member):
    client = APIClient()
    client.force_authenticate(user=member)
    return client


@pytest.fixture
def address(member):
    return AddressFactory(member=member, is_default=True)


def body(address, *pairs, **extra):
    return {
        "lines": [{"sku_id": sku.pk, "quantity": qty} for sku, qty in pairs],
        "address_id": address.pk,
    } | extra


def preview(client, data):
    return client.post("/api/v1/checkout/preview", data, format="json")


def order(client, data):
    shown = preview(client, data)
    assert shown.status_code == 200, shown.content
    response = client.post(
        "/api/v1/orders",
        data | {"expected_payable_fen": shown.json()["payable_fen"]},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid4().hex,
    )
    assert response.status_code == 201, response.content
    return shown.json(), Order.objects.get(no=response.json()["no"])


def discounts(breakdown):
    return [
        (d["source"], d["name"], d["amount_fen"], d["ref"], d["auto"])
        for d in breakdown["discounts"]
    ]


# --- preview → order ---
def test_full_reduction_and_limited_time_preview_equals_order(client, address, member):
    # given: tea in a sub-category of a 满减 category, a cup on 限时 8折 (and in the 满减 too)
    parent = CategoryFactory(name="茶")
    tea = SkuFactory(
        price_fen=20001, product=ProductFactory(category=CategoryFactory(parent=parent))
    )
    cup = SkuFactory(price_fen=12999)
    full = manjian(
        scope=Campaign.Scope.CATEGORIES, category_ids=[parent.pk, cup.product.category_id]
    )
    sale = limited(cup, rate_bp=8000)
    # when
    shown, placed = order(client, body(address, (tea, 1), (cup, 2), coupon_id=0))
    # then: 限时 first (25998 → 20798), then 满减 on 20001 + 20798 = 40799 ≥ 300 元
    assert discounts(shown) == [
        ("limited_time", "限时折扣", 5200, f"campaign:{sale.pk}", False),
        ("full_reduction", "满300减50，满500减100", 5000, f"campaign:{full.pk}", False),
    ]
    assert shown["goods_fen"] == 20001 + 25998
    assert shown["payable_fen"] == 20001 + 25998 - 5200 - 5000
    assert placed.breakdown["discounts"] == shown["discounts"]
    assert sum(line["discount_fen"] for line in shown["lines"]) == 10200
    assert sum(line.paid_fen for line in placed.lines.all()) == placed.payable_fen
    usages = {u.campaign_id: u for u in CampaignUsage.objects.filter(order_id=placed.pk)}
    assert (usages[full.pk].discount_fen, usages[full.pk].goods_fen) == (5000, 20001 + 25998)
    assert (usages[sale.pk].discount_fen, usages[sale.pk].goods_fen) == (5200, 25998)
    assert {u.status for u in usages.values()} == {"pending"}


def test_paid_order_counts_in_the_stats_and_cancel_gives_limits_back(client, address, member):
    # given: 限时 15 元 (of 19.99) with 限购 2
    sku = SkuFactory(price_fen=1999)
    sale = limited(sku, price_fen=1500, limit=2)
    # when: 3 units → only 2 at the campaign price
    shown, first = order(client, body(address, (sku, 3), balance_fen=10**6))
    # then
    assert shown["discounts"][0]["amount_fen"] == 2 * 499
    assert CampaignPurchase.objects.get(member=member, campaign=sale).quantity == 2
    # the limit is used up: a second order pays the normal price
    again = preview(client, body(address, (sku, 1)))
    assert again.json()["discounts"] == []
    # when it is paid (stored value covers it)
    assert client.post(f"/api/v1/orders/{first.no}/pay").json() == {"paid": True}
    # then
    assert campaign_stats([sale.pk]) == {
        sale.pk: {"orders": 1, "gmv_fen": 3 * 1999, "discount_fen": 998}
    }
    # when a second order (at the normal price) … and a cancelled first one would give back
    _, second = order(client, body(address, (sku, 1)))
    assert not CampaignUsage.objects.filter(order_id=second.pk).exists()


def test_cancel_gives_the_purchase_limit_back(client, address, member):
    sku = SkuFactory(price_fen=1999)
    sale = limited(sku, price_fen=1500, limit=2)
    _, placed = order(client, body(address, (sku, 2)))
    assert CampaignPurchase.objects.get(campaign=sale).quantity == 2
    # when
    assert client.post(f"/api/v1/orders/{placed.no}/cancel", {}, format="json").status_code == 200
    client.post(f"/api/v1/orders/{placed.no}/cancel", {}, format="json")  # a repeat: no-op
    # then
    assert CampaignPurchase.objects.get(campaign=sale).quantity == 0
    assert CampaignUsage.objects.get(order_id=placed.pk).status == "cancelled"
    assert preview(client, body(address, (sku, 2))).json()["discounts"][0]["amount_fen"] == 998


def test_auto_coupon_with_campaign_then_no_coupon_then_unusable_coupon(client, address, member):
    # given: 满300减50 and two coupons (满100减30, 满1000减200) of the member
    sku = SkuFactory(price_fen=30000)
    full = manjian()
    small = CouponTemplateFactory(name="满100减30")
    big = CouponTemplateFactory(name="满1000减200", threshold_fen=100000, amount_fen=20000)
    (coupon,) = coupons_issue(template_id=small.pk, member_ids=[member.pk])
    (far,) = coupons_issue(template_id=big.pk, member_ids=[member.pk])
    # when: no coupon chosen → the best usable one, marked auto
    shown, placed = order(client, body(address, (sku, 1)))
    # then
    assert discounts(shown) == [
        ("full_reduction", full.name, 5000, f"campaign:{full.pk}", False),
        ("coupon", "满100减30", 3000, f"coupon:{coupon.pk}", True),
    ]
    coupon.refresh_from_db()
    assert (coupon.status, coupon.order_id) == (Coupon.Status.LOCKED, placed.pk)
    # coupon_id 0: no coupon
    assert [
        d["source"]
        for d in preview(client, body(address, (sku, 1), coupon_id=0)).json()["discounts"]
    ] == ["full_reduction"]
    # a chosen coupon whose threshold is not reached
    refused = preview(client, body(address, (sku, 1), coupon_id=far.pk))
    assert refused.status_code == 409
    assert refused.json()["code"] == "coupon_unavailable"
    assert "满1000" in refused.json()["message"]


def test_coupon_not_stackable_with_campaigns_best_of_the_two(client, address, member):
    # given: 满300减50, and a 60 元 coupon that does not stack with campaigns
    sku = SkuFactory(price_fen=30000)
    manjian()
    template = CouponTemplateFactory(
        name="独享券", threshold_fen=0, amount_fen=6000, stackable_with_campaigns=False
    )
    coupons_issue(template_id=template.pk, member_ids=[member.pk])
    # when
    shown = preview(client, body(address, (sku, 1))).json()
    # then
    assert [(d["source"], d["amount_fen"]) for d in shown["discounts"]] == [("coupon", 6000)]


def test_n_for_price_and_buy_gift_exact_to_the_fen(client, address, member):
    # given: any 3 for 99 元 on the tea category; 买二送一 on the cups
    tea_category = CategoryFactory()
    teas = [
        SkuFactory(price_fen=p, product=ProductFactory(category=tea_category))
        for p in (5001, 4003, 3333)
    ]
    cup = SkuFactory(price_fen=1999)
    bundle = campaign_create(
        **window(
            name="任选3件99元",
            kind=Campaign.Kind.N_FOR_PRICE,
            scope=Campaign.Scope.CATEGORIES,
            category_ids=[tea_category.pk],
            bundle_quantity=3,
            bundle_price_fen=9900,
        )
    )
    gift = campaign_create(
        **window(
            name="买二送一",
            kind=Campaign.Kind.BUY_GIFT,
            scope=Campaign.Scope.PRODUCTS,
            product_ids=[cup.product_id],
            buy_quantity=2,
            gift_quantity=1,
        )
    )
    # when
    shown, placed = order(client, body(address, *((t, 1) for t in teas), (cup, 3), coupon_id=0))
    # then
    assert discounts(shown) == [
        ("n_for_price", "任选3件99元", 5001 + 4003 + 3333 - 9900, f"campaign:{bundle.pk}", False),
        ("buy_gift", "买二送一", 1999, f"campaign:{gift.pk}", False),
    ]
    assert [line["discount_fen"] for line in shown["lines"]][3] == 1999
    assert sum(line["discount_fen"] for line in shown["lines"][:3]) == 2437
    assert placed.payable_fen == 9900 + 2 * 1999


def test_member_level_eligibility(client, address, member):
    from members.models import MemberLevel

    gold = MemberLevel.objects.create(name="金卡", growth_threshold=1000)
    sku = SkuFactory(price_fen=30000)
    manjian(member_level_ids=[gold.pk])
    assert preview(client, body(address, (sku, 1), coupon_id=0)).json()["discounts"] == []
    Member.objects.filter(pk=member.pk).update(level=gold)
    member.refresh_from_db()
    assert len(preview(client, body(address, (sku, 1), coupon_id=0)).json()["discounts"]) == 1


def test_campaign_ended_early_is_gone_and_not_taken_by_a_stale_price(client, address, member):
    sku = SkuFactory(price_fen=30000)
    full = manjian()
    data = body(address, (sku, 1), coupon_id=0)
    shown = preview(client, data).json()
    assert shown["payable_fen"] == 25000
    # when
    assert campaign_end_early(campaign_id=full.pk) is True
    assert campaign_end_early(campaign_id=full.pk) is False
    # then: the shopper's stale expected price is refused
    response = client.post(
        "/api/v1/orders",
        data | {"expected_payable_fen": 25000},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid4().hex,
    )
    assert response.json()["code"] == "price_changed"
    assert preview(client, data).json()["payable_fen"] == 30000


def test_campaign_create_validates():
    with pytest.raises(CampaignInvalid):
        campaign_create(**window(name="x", kind=Campaign.Kind.FULL_REDUCTION))
    with pytest.raises(CampaignInvalid):
        campaign_create(
            **window(
                name="x",
                kind=Campaign.Kind.FULL_REDUCTION,
                is_repeat=True,
                tiers=[TierInput(100, reduce_fen=1), TierInput(200, reduce_fen=2)],
            )
        )
    now = timezone.now()
    with pytest.raises(CampaignInvalid):
        campaign_create(
            name="x",
            kind=Campaign.Kind.BUY_GIFT,
            starts_at=now,
            ends_at=now,
            buy_quantity=1,
            gift_quantity=1,
        )


# --- 限购 under concurrency ---
@pytest.mark.django_db(transaction=True)
def test_purchase_limit_taken_by_ten_threads_never_exceeded():
    # given: 限购 3; ten orders of 1 unit each race for it
    member = MemberFactory()
    sku = SkuFactory(price_fen=1999)
    sale = limited(sku, price_fen=999, limit=3)

    def take(order_id):
        try:
            from django.db import transaction

            with transaction.atomic():
                campaign_usages_record(
                    member_id=member.pk,
                    order_id=order_id,
                    order_no=f"T{order_id}",
                    usages=[UsageInput(sale.pk, 1000, 1999, {sku.pk: 1}, {sku.pk: 3})],
                )
            return True
        except CampaignPurchaseLimitReached:
            return False
        finally:
            connection.close()

    # when
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(take, range(1, 11)))
    # then
    assert results.count(True) == 3
    assert CampaignPurchase.objects.get(member=member, campaign=sale).quantity == 3
    assert CampaignUsage.objects.filter(campaign=sale).count() == 3


# --- product API ---
def test_product_detail_shows_the_limited_time_price_and_countdown(django_assert_max_num_queries):
    product = product_with_skus(skus=[{"price_fen": 1999}, {"price_fen": 2999}])
    on_sale, plain = product.skus.order_by("id")
    sale = limited(on_sale, price_fen=1500)
    client = APIClient()
    response = client.get(f"/api/v1/products/{product.pk}")
    skus = {s["id"]: s for s in response.json()["skus"]}
    promo = skus[on_sale.pk]["promotion"]
    assert (promo["kind"], promo["price_fen"], promo["campaign_id"]) == (
        "limited_time",
        1500,
        sale.pk,
    )
    assert 7100 < promo["seconds_left"] <= 7200
    assert skus[on_sale.pk]["pay_price_fen"] == 1500
    assert "promotion" not in skus[plain.pk]
    assert response.json()["price"]["pay_price_fen"] == 1500
    with django_assert_max_num_queries(1):  # warm: stock levels only
        client.get(f"/api/v1/products/{product.pk}")


# --- campaigns API ---
def test_campaigns_api_lists_running_ones(django_assert_num_queries):
    for n in range(10):
        manjian(name=f"满减{n}", priority=n)
    campaign_create(
        **window(
            name="未开始",
            kind=Campaign.Kind.BUY_GIFT,
            buy_quantity=1,
            gift_quantity=1,
            starts_at=timezone.now() + timedelta(hours=1),
        )
    )
    ended = manjian(name="已结束")
    campaign_end_early(campaign_id=ended.pk)
    client = APIClient()
    with django_assert_num_queries(6):  # count, page, tiers, items, categories, products
        response = client.get("/api/v1/campaigns")
    assert response.status_code == 200
    names = [c["name"] for c in response.json()["results"]]
    assert names == [f"满减{n}" for n in reversed(range(10))]
    first = response.json()["results"][0]
    assert first["tiers"] == [
        {"threshold": 30000, "reduce_fen": 5000, "rate_bp": 10000},
        {"threshold": 50000, "reduce_fen": 10000, "rate_bp": 10000},
    ]
    assert client.get(f"/api/v1/campaigns/{first['id']}").json()["kind"] == "full_reduction"
    assert client.get(f"/api/v1/campaigns/{ended.pk}").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_ten_threads_ordering_at_the_limited_price_get_at_most_the_limit():
    # given: 限购 3 at 9.99 (of 19.99); ten concurrent orders of 1 unit expecting that price
    from mall.errors import PriceChanged
    from orders.pricing import CheckoutRequest, DeliveryChoice, LineInput
    from orders.services import order_create

    member = MemberFactory()
    address = AddressFactory(member=member)
    sku = SkuFactory(price_fen=1999, stock=100)
    sale = limited(sku, price_fen=999, limit=3)
    checkout = CheckoutRequest(
        delivery=DeliveryChoice(address_id=address.pk),
        lines=(LineInput(sku_id=sku.pk, quantity=1),),
        coupon_id=0,
    )

    def place(_):
        try:
            order_create(
                member=Member.objects.get(pk=member.pk),
                client_token=uuid4().hex,
                checkout=checkout,
                expected_payable_fen=999,
            )
            return True
        except PriceChanged:
            return False
        finally:
            connection.close()

    # when
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(place, range(10)))
    # then
    assert results.count(True) == 3
    assert CampaignPurchase.objects.get(member=member, campaign=sale).quantity == 3
    assert Order.objects.filter(member=member, payable_fen=999).count() == 3


def test_buy_gift_of_another_sku_adds_a_free_line_while_stock_lasts(client, address, member):
    # given: 买2件茶 赠1个杯子 (the cup has 3 units left)
    tea, cup = SkuFactory(price_fen=3000, stock=50), SkuFactory(price_fen=1500, stock=3)
    gift = campaign_create(
        **window(
            name="买2赠杯",
            kind=Campaign.Kind.BUY_GIFT,
            scope=Campaign.Scope.PRODUCTS,
            product_ids=[tea.product_id],
            buy_quantity=2,
            gift_quantity=1,
            gift_sku_id=cup.pk,
        )
    )
    # when: 5 teas → 2 cups
    shown, placed = order(client, body(address, (tea, 5), coupon_id=0))
    # then: a free line, no discount, no shipping for it, stock taken
    assert shown["lines"][1] | {} == {
        "sku_id": cup.pk,
        "quantity": 2,
        "unit_price_fen": 0,
        "discount_fen": 0,
        "paid_fen": 0,
        "gift": True,
    }
    assert shown["goods_fen"] == 15000
    assert placed.payable_fen == shown["payable_fen"]
    gift_line = placed.lines.get(sku_id=cup.pk)
    assert (gift_line.unit_price_fen, gift_line.quantity, gift_line.title[:4]) == (0, 2, "【赠品】")
    cup.refresh_from_db()
    assert cup.stock == 1
    assert CampaignUsage.objects.filter(campaign=gift, order_id=placed.pk).count() == 1
    # when: the next order asks for 2 cups but 1 is left (赠完即止); then none
    shown, _ = order(client, body(address, (tea, 4), coupon_id=0))
    assert [(x["sku_id"], x["quantity"]) for x in shown["lines"]] == [(tea.pk, 4), (cup.pk, 1)]
    shown, _ = order(client, body(address, (tea, 2), coupon_id=0))
    assert [x["sku_id"] for x in shown["lines"]] == [tea.pk]


def test_a_gift_of_the_bought_sku_leaves_the_bought_units_first(client, address, member):
    tea = SkuFactory(price_fen=3000, stock=5)
    campaign_create(
        **window(
            name="买2赠1同款",
            kind=Campaign.Kind.BUY_GIFT,
            scope=Campaign.Scope.PRODUCTS,
            product_ids=[tea.product_id],
            buy_quantity=2,
            gift_quantity=1,
            gift_sku_id=tea.pk,
        )
    )
    # 4 bought → 2 gifts asked, 1 unit left for them
    shown, placed = order(client, body(address, (tea, 4), coupon_id=0))
    assert [(x["quantity"], x["gift"]) for x in shown["lines"]] == [(4, False), (1, True)]
    tea.refresh_from_db()
    assert tea.stock == 0
    assert placed.payable_fen == shown["payable_fen"]
