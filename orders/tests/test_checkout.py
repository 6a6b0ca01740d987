"""Checkout preview and order creation through the API: one price, one order per key, and
nothing half-written on any error."""

from uuid import uuid4

import pytest

from catalog.models import StockLog
from catalog.tests.factories import ProductFactory, SkuFactory
from members.models import Member
from members.tests.factories import MemberFactory
from orders.models import CartItem, Order, OrderLine, OrderStatusLog
from orders.tests.factories import (
    AddressFactory,
    FreightRuleFactory,
    FreightTemplateFactory,
    PickupPointFactory,
)
from orders.tests.providers import StockThief, TenPercentOff, use_providers

pytestmark = pytest.mark.django_db

TEN_PERCENT = TenPercentOff()


def preview(client, body):
    return client.post("/api/v1/checkout/preview", body, format="json")


def create(client, body, key=None):
    return client.post(
        "/api/v1/orders", body, format="json", HTTP_IDEMPOTENCY_KEY=key or uuid4().hex
    )


def breakdown_of(preview_body):
    return {k: v for k, v in preview_body.items() if k not in ("items", "delivery_type")}


def lines_body(*pairs):
    return [{"sku_id": sku.pk, "quantity": qty} for sku, qty in pairs]


# --- the table: preview == order, for every combination ---
def _case_express_piece_default(member):
    template = FreightTemplateFactory(is_default=True, charge_by="piece")
    FreightRuleFactory(template=template, first_fee_fen=1000, extra_fee_fen=500)
    sku = SkuFactory(price_fen=1999)
    return {
        "lines": lines_body((sku, 2)),
        "address_id": AddressFactory(member=member).pk,
    }, 3998 + 1500


def _case_express_weight_product_template(member):
    template = FreightTemplateFactory(charge_by="weight")
    FreightRuleFactory(
        template=template, first_units=1000, first_fee_fen=800, extra_units=500, extra_fee_fen=300
    )
    heavy, light = (
        SkuFactory(price_fen=5000, weight_g=1200),
        SkuFactory(price_fen=990, weight_g=100),
    )
    template.products.add(heavy.product, light.product)
    body = {
        "lines": lines_body((heavy, 1), (light, 3)),
        "address_id": AddressFactory(member=member).pk,
    }
    return body, 5000 + 2970 + 800 + 300  # 1500 g: one started 500 g step


def _case_express_region_three_lines(member):
    template = FreightTemplateFactory(is_default=True)
    FreightRuleFactory(
        template=template, regions=["新疆维吾尔自治区"], first_fee_fen=2500, extra_fee_fen=1000
    )
    FreightRuleFactory(template=template, regions=[], first_fee_fen=600, extra_fee_fen=100)
    skus = [SkuFactory(price_fen=p) for p in (100, 250, 333)]
    address = AddressFactory(member=member, province="新疆维吾尔自治区")
    body = {"lines": lines_body(*((s, 1) for s in skus)), "address_id": address.pk}
    return body, 683 + 2500 + 2 * 1000


def _case_express_free_over(member):
    template = FreightTemplateFactory(is_default=True, free_over_fen=9900)
    FreightRuleFactory(template=template)
    a, b = SkuFactory(price_fen=5000), SkuFactory(price_fen=4900)
    return {
        "lines": lines_body((a, 1), (b, 1)),
        "address_id": AddressFactory(member=member).pk,
    }, 9900


def _case_express_oldest_template_of_a_product_and_the_default(member):
    default = FreightTemplateFactory(is_default=True)
    FreightRuleFactory(template=default, first_fee_fen=800, extra_fee_fen=0)
    older, newer, unused = FreightTemplateFactory.create_batch(3)
    FreightRuleFactory(template=older, regions=["浙江省"], first_fee_fen=300, extra_fee_fen=100)
    FreightRuleFactory(template=older, regions=[], first_fee_fen=500, extra_fee_fen=200)
    FreightRuleFactory(template=newer, first_fee_fen=900, extra_fee_fen=0)
    FreightRuleFactory(template=unused, first_fee_fen=5000, extra_fee_fen=0)
    in_two, plain = SkuFactory(price_fen=1000), SkuFactory(price_fen=2000)
    newer.products.add(in_two.product)
    older.products.add(in_two.product)
    address = AddressFactory(member=member, province="浙江省")
    body = {"lines": lines_body((in_two, 2), (plain, 1)), "address_id": address.pk}
    return body, 4000 + (300 + 100) + 800  # older template's 浙江 rule; the default for plain


def _case_pickup(member):
    FreightRuleFactory(template=FreightTemplateFactory(is_default=True))
    sku = SkuFactory(price_fen=1234)
    return {"lines": lines_body((sku, 3)), "pickup_point_id": PickupPointFactory().pk}, 3702


def _case_provider_free_over_lost(member):
    template = FreightTemplateFactory(is_default=True, free_over_fen=9900)
    FreightRuleFactory(template=template, first_fee_fen=1000, extra_fee_fen=0)
    a, b, c = SkuFactory(price_fen=5000), SkuFactory(price_fen=4000), SkuFactory(price_fen=1001)
    body = {
        "lines": lines_body((a, 1), (b, 1), (c, 1)),
        "address_id": AddressFactory(member=member).pk,
    }
    return body, 10001 - 1000 + 1000  # 10% off → 9001 < 99 元: shipping charged


def _case_provider_pickup(member):
    sku = SkuFactory(price_fen=999)
    return {"lines": lines_body((sku, 1)), "pickup_point_id": PickupPointFactory().pk}, 999 - 100


CASES = [
    (_case_express_piece_default, [], None),
    (_case_express_weight_product_template, [], None),
    (_case_express_region_three_lines, [], None),
    (_case_express_free_over, [], None),
    (_case_express_oldest_template_of_a_product_and_the_default, [], None),
    (_case_pickup, [], None),
    (_case_provider_free_over_lost, [TEN_PERCENT], None),
    (_case_provider_pickup, [TEN_PERCENT], None),
    (_case_express_region_three_lines, [TEN_PERCENT], 683 - 68 + 4500),
    (_case_express_weight_product_template, [TEN_PERCENT], 7970 - 797 + 1100),
]


@pytest.mark.parametrize(
    ("case", "providers", "payable_with_provider"),
    CASES,
    ids=lambda x: getattr(x, "__name__", str(x)),
)
def test_preview_payable_equals_created_order(
    case, providers, payable_with_provider, monkeypatch, member, shopper_client
):
    # given
    use_providers(monkeypatch, *providers)
    body, expected_payable = case(member)
    expected_payable = payable_with_provider or expected_payable
    # when
    shown = preview(shopper_client, body)
    created = create(
        shopper_client, body | {"expected_payable_fen": shown.json().get("payable_fen")}
    )
    # then
    assert shown.status_code == 200, shown.json()
    assert shown.json()["payable_fen"] == expected_payable
    assert created.status_code == 201, created.json()
    order = Order.objects.get(no=created.json()["no"])
    assert order.payable_fen == expected_payable
    assert order.breakdown == breakdown_of(shown.json()) == created.json()["breakdown"]
    assert sum(line.paid_fen for line in order.lines.all()) == order.payable_fen
    assert [(x.sku_id, x.paid_fen, x.discount_fen) for x in order.lines.order_by("id")] == [
        (x["sku_id"], x["paid_fen"], x["discount_fen"]) for x in shown.json()["lines"]
    ]


def test_provider_load_sees_the_lines(monkeypatch, member, shopper_client, sku, address):
    # given
    use_providers(monkeypatch, TEN_PERCENT)
    TenPercentOff.loads.clear()
    # when
    response = preview(shopper_client, {"lines": lines_body((sku, 1)), "address_id": address.pk})
    # then
    assert response.json()["discounts"] == [
        {"source": "test", "name": "测试九折", "amount_fen": 200, "ref": "", "auto": False}
    ]
    assert TenPercentOff.loads == [[sku.pk]]


def test_order_snapshots_lines_and_reserves_stock(member, shopper_client, address):
    # given
    sku = SkuFactory(
        price_fen=2500,
        stock=5,
        specs={"颜色": "红", "尺码": "M"},
        product=ProductFactory(title="西湖龙井"),
    )
    body = {"lines": lines_body((sku, 2)), "address_id": address.pk, "note": "请尽快发货"}
    # when
    response = create(shopper_client, body | {"expected_payable_fen": 5000})
    # then
    assert response.status_code == 201, response.json()
    order = Order.objects.get(no=response.json()["no"])
    line = order.lines.get()
    assert (line.title, line.spec_text, line.unit_price_fen, line.quantity) == (
        "西湖龙井",
        "颜色:红 尺码:M",
        2500,
        2,
    )
    assert order.address["detail"] == address.detail
    assert order.note == "请尽快发货"
    assert order.status == "pending_payment"
    assert order.no[:8].isdigit()
    assert len(order.no) == 18
    sku.refresh_from_db()
    assert sku.stock == 3
    assert StockLog.objects.filter(reference=order.no, change=-2).count() == 1
    assert OrderStatusLog.objects.filter(order=order, to_status="pending_payment").count() == 1
    # a price change of the product does not change the order
    sku.price_fen = 1
    sku.save()
    assert (
        shopper_client.get(f"/api/v1/orders/{order.no}").json()["lines"][0]["unit_price_fen"]
        == 2500
    )


def test_from_cart_buys_the_selected_lines_and_removes_them(member, shopper_client, address):
    # given
    bought, kept = SkuFactory(price_fen=100), SkuFactory(price_fen=200)
    CartItem.objects.create(member=member, sku=bought, quantity=2, added_price_fen=100)
    CartItem.objects.create(
        member=member, sku=kept, quantity=1, selected=False, added_price_fen=200
    )
    # when
    response = create(
        shopper_client, {"from_cart": True, "address_id": address.pk, "expected_payable_fen": 200}
    )
    # then
    assert response.status_code == 201, response.json()
    assert [x["sku_id"] for x in response.json()["lines"]] == [bought.pk]
    assert list(CartItem.objects.filter(member=member).values_list("sku_id", flat=True)) == [
        kept.pk
    ]


def test_buy_now_leaves_the_cart_alone(member, shopper_client, sku, address):
    CartItem.objects.create(member=member, sku=sku, quantity=1, added_price_fen=sku.price_fen)
    response = create(
        shopper_client,
        {"lines": lines_body((sku, 1)), "address_id": address.pk, "expected_payable_fen": 1999},
    )
    assert response.status_code == 201
    assert CartItem.objects.filter(member=member).count() == 1


def test_expiry_task_is_queued_after_commit(
    member, shopper_client, sku, address, django_capture_on_commit_callbacks, settings
):
    # given
    settings.ORDER_PAYMENT_TIMEOUT = 900
    body = {"lines": lines_body((sku, 1)), "address_id": address.pk, "expected_payable_fen": 1999}
    # when
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = create(shopper_client, body)
    # then: queued once; run eagerly now, it finds the order not yet due and leaves it
    assert len(callbacks) == 1
    order = Order.objects.get(no=response.json()["no"])
    assert order.status == "pending_payment"
    assert 899 <= (order.expires_at - order.created_at).total_seconds() <= 900


# --- idempotency ---
def test_repeated_idempotency_key_returns_the_first_order(member, shopper_client, sku, address):
    # given
    body = {"lines": lines_body((sku, 1)), "address_id": address.pk, "expected_payable_fen": 1999}
    first = create(shopper_client, body, key="key-1")
    # when
    again = create(shopper_client, body, key="key-1")
    # then
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Order.objects.count() == 1
    sku.refresh_from_db()
    assert sku.stock == 99


def test_same_key_other_body_is_422_and_writes_nothing(member, shopper_client, sku, address):
    # given
    body = {"lines": lines_body((sku, 1)), "address_id": address.pk, "expected_payable_fen": 1999}
    create(shopper_client, body, key="key-1")
    before = _written(member)
    # when
    response = create(
        shopper_client,
        body | {"lines": lines_body((sku, 2)), "expected_payable_fen": 3998},
        key="key-1",
    )
    # then
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert _written(member) == before


def test_same_key_of_another_member_is_another_order(sku, client_for):
    # given
    alice, bob = MemberFactory(), MemberFactory()
    results = []
    # when
    for shopper in (alice, bob):
        address = AddressFactory(member=shopper)
        body = {
            "lines": lines_body((sku, 1)),
            "address_id": address.pk,
            "expected_payable_fen": 1999,
        }
        results.append(create(client_for(shopper), body, key="same-key").status_code)
    # then
    assert results == [201, 201]


# --- errors leave nothing half-written ---
def _written(member):
    return (
        Order.objects.count(),
        OrderLine.objects.count(),
        StockLog.objects.count(),
        OrderStatusLog.objects.count(),
        sorted(
            CartItem.objects.filter(member=member).values_list("sku_id", "quantity", "selected")
        ),
        sorted(SkuFactory._meta.model.objects.values_list("id", "stock")),
    )


def _error_setup(member, settings):
    template = FreightTemplateFactory(is_default=True)
    FreightRuleFactory(template=template, regions=["浙江省"], first_fee_fen=1000, extra_fee_fen=0)
    ok = SkuFactory(price_fen=1000, stock=5)
    second = SkuFactory(price_fen=500, stock=5)
    CartItem.objects.create(member=member, sku=ok, quantity=1, added_price_fen=1000)
    CartItem.objects.create(member=member, sku=second, quantity=1, added_price_fen=500)
    return {"ok": ok, "second": second, "address": AddressFactory(member=member, province="浙江省")}


def _body(objs, **changes):
    body = {"from_cart": True, "address_id": objs["address"].pk, "expected_payable_fen": 2500}
    return body | changes


ERROR_CASES = {
    "price_changed": (lambda o: _body(o, expected_payable_fen=2400), 409, "price_changed"),
    "off_shelf": (lambda o: _off_shelf(o) or _body(o), 409, "product_unavailable"),
    "inactive_sku": (lambda o: _inactive(o) or _body(o), 409, "product_unavailable"),
    "unknown_sku": (
        lambda o: _body(o, from_cart=False, lines=[{"sku_id": 999999, "quantity": 1}]),
        409,
        "product_unavailable",
    ),
    "too_many": (
        lambda o: _body(o, from_cart=False, lines=[{"sku_id": o["ok"].pk, "quantity": 6}]),
        409,
        "out_of_stock",
    ),
    "other_members_address": (
        lambda o: _body(o, address_id=AddressFactory(member=MemberFactory()).pk),
        409,
        "delivery_unavailable",
    ),
    "region_not_served": (
        lambda o: _body(o, address_id=AddressFactory(member=o["member"], province="西藏自治区").pk),
        409,
        "delivery_unavailable",
    ),
    "closed_pickup_point": (
        lambda o: _body(o, address_id=None, pickup_point_id=PickupPointFactory(is_active=False).pk),
        409,
        "delivery_unavailable",
    ),
    "coupon": (lambda o: _body(o, coupon_id=1), 409, "coupon_unavailable"),
    "negative_points": (lambda o: _body(o, points=-5), 400, "invalid"),
    "promotion": (
        lambda o: _body(o, promotion={"kind": "flash_sale", "id": 1}),
        409,
        "promotion_unavailable",
    ),
    "nothing_selected": (
        lambda o: CartItem.objects.filter(member=o["member"]).update(selected=False) and _body(o),
        400,
        "cart_empty",
    ),
    "both_lines_and_cart": (
        lambda o: _body(o, lines=[{"sku_id": o["ok"].pk, "quantity": 1}]),
        400,
        "invalid",
    ),
    "no_delivery": (lambda o: _body(o, address_id=None), 400, "invalid"),
    "negative_quantity": (
        lambda o: _body(o, from_cart=False, lines=[{"sku_id": o["ok"].pk, "quantity": -1}]),
        400,
        "invalid",
    ),
}


def _off_shelf(objs):
    objs["second"].product.is_on_shelf = False
    objs["second"].product.save()


def _inactive(objs):
    objs["second"].is_active = False
    objs["second"].save()


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_every_error_returns_its_code_and_writes_nothing(case, member, shopper_client, settings):
    # given
    objs = _error_setup(member, settings) | {"member": member}
    make_body, status, code = ERROR_CASES[case]
    body = make_body(objs)
    before = _written(member)
    # when
    response = create(shopper_client, body)
    # then
    assert (response.status_code, response.json()["code"]) == (status, code), response.json()
    assert _written(member) == before


def test_price_changed_carries_the_new_breakdown(member, shopper_client, settings):
    objs = _error_setup(member, settings)
    response = create(shopper_client, _body(objs, expected_payable_fen=1))
    assert response.status_code == 409
    assert response.json()["detail"]["breakdown"]["payable_fen"] == 2500
    assert response.json()["detail"]["expected_payable_fen"] == 1


def test_stock_gone_midway_rolls_everything_back(member, shopper_client, settings, monkeypatch):
    # given: the SKU reserved last loses its stock after the availability check
    objs = _error_setup(member, settings)
    use_providers(monkeypatch, StockThief())
    before = _written(member)
    # when
    response = create(shopper_client, _body(objs))
    # then: the first SKU's reservation (and the thief's change) rolled back too
    assert (response.status_code, response.json()["code"]) == (409, "out_of_stock")
    assert _written(member) == before


def test_missing_idempotency_key_is_invalid(member, shopper_client, sku, address):
    body = {"lines": lines_body((sku, 1)), "address_id": address.pk, "expected_payable_fen": 1999}
    response = shopper_client.post("/api/v1/orders", body, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    assert "Idempotency-Key" in response.json()["detail"]
    assert Order.objects.count() == 0


def test_client_cannot_write_price_status_or_owner(member, shopper_client, sku, address):
    # given
    other = MemberFactory()
    body = {
        "lines": [{"sku_id": sku.pk, "quantity": 1, "unit_price_fen": 1, "paid_fen": 1}],
        "address_id": address.pk,
        "expected_payable_fen": 1999,
        "payable_fen": 1,
        "goods_fen": 1,
        "status": "paid",
        "member": other.pk,
        "member_id": other.pk,
        "no": "20990101000000001",
        "breakdown": {"payable_fen": 1},
    }
    # when
    response = create(shopper_client, body)
    # then
    assert response.status_code == 201, response.json()
    order = Order.objects.get()
    assert (order.member_id, order.status, order.payable_fen, order.goods_fen) == (
        member.pk,
        "pending_payment",
        1999,
        1999,
    )
    assert order.no != body["no"]
    assert order.lines.get().unit_price_fen == 1999


def test_checkout_needs_login(api_client):
    assert api_client.post("/api/v1/checkout/preview", {}, format="json").status_code == 401


def test_order_creation_query_budget(
    member, shopper_client, address, django_assert_max_num_queries
):
    # given: a 3-line express order priced with the default freight template
    FreightRuleFactory(template=FreightTemplateFactory(is_default=True))
    skus = SkuFactory.create_batch(3, price_fen=1000)
    body = {"lines": lines_body(*((s, 1) for s in skus)), "address_id": address.pk}
    payable = preview(shopper_client, body).json()["payable_fen"]
    # when / then: DESIGN.md allows 30 SQL per order placed. Ours, however many lines: member
    # lock, key check, SKUs, address, freight, order (in a savepoint: 3), SKU locks, stock moves
    # with their logs, lines, status log, and the transaction's 2 (+ token auth in production);
    # plus the member's usable coupons (PromotionProvider auto-picks the best one).
    with django_assert_max_num_queries(15):
        response = create(shopper_client, body | {"expected_payable_fen": payable})
    assert response.status_code == 201


def test_stored_value_in_preview_and_order(member, shopper_client, address):
    # given: 1000 fen of balance, an order of 2 × 1999 (no shipping template: free)
    member.balance_fen = 1000
    member.save(update_fields=["balance_fen"])
    sku = SkuFactory(price_fen=1999)
    body = {"lines": lines_body((sku, 2)), "address_id": address.pk, "balance_fen": 5000}
    # when
    shown = preview(shopper_client, body)
    made = create(shopper_client, body | {"expected_payable_fen": 3998})
    # then: capped by the balance; the order holds it, WeChat pays the rest
    assert shown.status_code == 200, shown.content
    assert (shown.json()["balance_fen"], shown.json()["wechat_pay_fen"]) == (1000, 2998)
    assert made.status_code == 201, made.content
    order = Order.objects.get(member=member)
    assert (order.balance_fen, order.wechat_pay_fen, order.payable_fen) == (1000, 2998, 3998)
    assert Member.objects.values_list("balance_fen", flat=True).get(pk=member.pk) == 0


# --- order numbers: a collision is retried without aborting the transaction ---
def test_a_colliding_order_no_is_replaced_and_the_order_completes(
    member, address, sku, place_order, monkeypatch
):
    # given: the first number drawn is taken
    taken = place_order(member, [(sku, 1)], address=address)
    drawn = iter([taken.no, "20261124ABCDEFGHIJ"])
    monkeypatch.setattr("orders.services.checkout.order_no_new", lambda now: next(drawn))
    # when
    order = place_order(member, [(sku, 2)], address=address)
    # then: one order more, with the second number, its lines, log and stock move
    order.refresh_from_db()
    assert order.no == "20261124ABCDEFGHIJ"
    assert Order.objects.count() == 2
    assert list(order.lines.values_list("quantity", flat=True)) == [2]
    assert order.status_logs.count() == 1
    assert StockLog.objects.filter(reference=order.no, change=-2).count() == 1


def test_order_no_attempts_exhausted_write_nothing(member, address, sku, place_order, monkeypatch):
    from django.db import IntegrityError

    taken = place_order(member, [(sku, 1)], address=address)
    monkeypatch.setattr("orders.services.checkout.order_no_new", lambda now: taken.no)
    with pytest.raises(IntegrityError):
        place_order(member, [(sku, 1)], address=address)
    assert Order.objects.count() == 1
    assert OrderLine.objects.count() == 1
    assert StockLog.objects.filter(change=-1).count() == 1
