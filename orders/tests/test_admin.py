"""The merchant's order desk: lists, detail, shipping (single and bulk), pickup, cancel, note."""

import io

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl import Workbook, load_workbook

from catalog.models import Sku
from catalog.tests.factories import SkuFactory
from members.tests.factories import MemberFactory
from orders.models import Address, CartItem, FreightTemplate, Order, OrderStatusLog
from orders.services import order_ship, order_transition
from orders.tests.factories import AddressFactory, PickupPointFactory
from orders.tests.providers import TenPercentOff, use_providers

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/orders/order/"


def pay(order):
    """Stands in for the payments app: the notification moves the order to paid."""
    assert order_transition(
        order_id=order.pk,
        from_status="pending_payment",
        to_status="paid",
        actor="wechat",
        out_trade_no=order.no,
    )
    order.refresh_from_db()
    return order


def change_url(order, suffix=""):
    return f"{CHANGELIST}{order.pk}/change/" if not suffix else f"{CHANGELIST}{order.pk}/{suffix}/"


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def express_order(member, address, place_order):
    def make(*, paid=True, qty=1, price_fen=3000):
        sku = SkuFactory(price_fen=price_fen, stock=10)
        order = place_order(member, [(sku, qty)], address=address)
        return pay(order) if paid else order

    return make


@pytest.fixture
def pickup_point(db):
    return PickupPointFactory(name="西湖自提点")


@pytest.fixture
def pickup_order(member, pickup_point, place_order):
    def make(*, paid=True):
        order = place_order(
            member, [(SkuFactory(price_fen=2500, stock=5), 1)], pickup_point=pickup_point
        )
        return pay(order) if paid else order

    return make


def _orders(count, place_order, pickup_point):
    """A mix: members with and without phones, express and pickup, one and two lines."""
    orders = []
    for n in range(count):
        member = MemberFactory(phone=f"139{n:08d}" if n % 2 else "")
        skus = [SkuFactory(price_fen=1000 + n, stock=5) for _ in range(1 + n % 2)]
        if n % 3 == 0:
            order = place_order(member, [(sku, 1) for sku in skus], pickup_point=pickup_point)
        else:
            address = AddressFactory(member=member, phone=f"138{n:08d}")
            order = place_order(member, [(sku, 2) for sku in skus], address=address)
        orders.append(pay(order) if n % 4 else order)
    return orders


def _changelist_queries(admin_client, url=CHANGELIST):
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(url)
    assert response.status_code == 200
    return len(captured), response


# --- the list ---
def test_changelist_query_count_does_not_grow_with_orders(admin_client, place_order, pickup_point):
    # given
    _orders(10, place_order, pickup_point)
    queries_10, response = _changelist_queries(admin_client)
    assert len(response.context["cl"].result_list) == 10
    # when
    _orders(20, place_order, pickup_point)
    queries_30, response = _changelist_queries(admin_client)
    # then
    assert len(response.context["cl"].result_list) == 30
    assert queries_30 == queries_10
    content = response.content.decode()
    assert "自提<br>" in content
    assert "西湖自提点" in content
    assert "等2件" in content or "等4件" in content


def test_changelist_columns(admin_client, member, address, place_order):
    # given
    member.phone = "13911112222"
    member.save()
    skus = [
        SkuFactory(price_fen=1999, stock=5, product__title="西湖龙井"),
        SkuFactory(price_fen=500),
    ]
    order = place_order(member, [(skus[0], 2), (skus[1], 1)], address=address)
    # when
    response = admin_client.get(CHANGELIST)
    # then
    content = response.content.decode()
    assert order.no in content
    assert "西湖龙井 等3件" in content
    assert f"¥{order.payable_fen // 100}.{order.payable_fen % 100:02d}" in content
    assert "待付款" in content
    assert "13911112222" in content
    assert member.nickname in content


def test_search_by_member_phone_address_phone_order_no_and_tracking_no(admin_client, place_order):
    # given
    alice = MemberFactory(phone="13900000001")
    bob = MemberFactory(phone="13700000009")
    alice_order = pay(
        place_order(
            alice,
            [(SkuFactory(stock=5), 1)],
            address=AddressFactory(member=alice, phone="13800000002"),
        )
    )
    bob_order = place_order(
        bob, [(SkuFactory(stock=5), 1)], address=AddressFactory(member=bob, phone="13600000003")
    )
    order_ship(order_id=alice_order.pk, carrier="SF", tracking_no="SF777888", actor="admin:boss")

    def found(term):
        response = admin_client.get(CHANGELIST, {"q": term})
        assert response.status_code == 200
        return {order.no for order in response.context["cl"].result_list}

    # then
    assert found("13900000001") == {alice_order.no}  # the member's phone
    assert found("13800000002") == {alice_order.no}  # the phone on the address
    assert found("13600000003") == {bob_order.no}
    assert found(bob_order.no) == {bob_order.no}
    assert found("SF777888") == {alice_order.no}


def test_filters_by_status_delivery_and_pickup_point(admin_client, express_order, pickup_order):
    # given
    unpaid, paid = express_order(paid=False), express_order()
    pickup = pickup_order()

    def listed(params):
        response = admin_client.get(CHANGELIST, params)
        assert response.status_code == 200
        return {order.pk for order in response.context["cl"].result_list}

    # then
    assert listed({"status__exact": "pending_payment"}) == {unpaid.pk}
    assert listed({"delivery_type__exact": "pickup"}) == {pickup.pk}
    assert listed({"pickup_point__id__exact": pickup.pickup_point_id}) == {pickup.pk}
    assert listed({"kind__exact": "normal"}) == {unpaid.pk, paid.pk, pickup.pk}


# --- the detail ---
def test_detail_shows_breakdown_lines_address_and_timeline(
    admin_client, member, address, place_order, monkeypatch
):
    # given: a named discount from a test provider
    use_providers(monkeypatch, TenPercentOff())
    sku = SkuFactory(price_fen=10000, stock=5, product__title="明前龙井")
    order = pay(place_order(member, [(sku, 2)], address=address))
    # when
    response = admin_client.get(change_url(order))
    # then
    assert response.status_code == 200
    content = response.content.decode()
    assert "商品金额" in content
    assert "¥200.00" in content
    assert "测试九折" in content
    assert "-¥20.00" in content
    assert "运费" in content
    assert "应付" in content
    assert "微信支付" in content
    assert f"¥{order.payable_fen // 100}.{order.payable_fen % 100:02d}" in content
    assert "明前龙井" in content
    assert "¥100.00" in content
    assert address.name in content
    assert address.detail in content
    assert "提交订单" in content
    assert f"member:{member.pk}" in content
    assert "wechat" in content
    assert "待发货" in content
    assert f'href="{change_url(order, "ship")}"' in content  # the 发货 button
    # the payments app's refund form, prefilled with this order
    assert f'href="/admin/payments/refund/add/?order={order.no}"' in content


def test_pickup_order_detail_shows_point_and_code(admin_client, pickup_order):
    order = pickup_order()
    response = admin_client.get(change_url(order))
    content = response.content.decode()
    assert "西湖自提点" in content
    assert order.pickup_code in content
    assert "待自提" in content
    assert f'href="{change_url(order, "redeem")}"' in content


def test_status_and_amounts_are_not_editable_but_the_merchant_note_is(admin_client, express_order):
    # given
    order = express_order(paid=False)
    response = admin_client.get(change_url(order))
    assert list(response.context["adminform"].form.fields) == ["merchant_note"]
    data = _inline_management_data(response)
    # when: a crafted POST tries to change status and amounts too
    data |= {
        "merchant_note": "  送礼，请勿放发票  ",
        "status": "cancelled",
        "payable_fen": "1",
        "wechat_pay_fen": "1",
        "carrier": "SF",
    }
    response = admin_client.post(change_url(order), data)
    # then
    assert response.status_code == 302, response.context and response.context["errors"]
    fresh = Order.objects.get(pk=order.pk)
    assert fresh.merchant_note == "送礼，请勿放发票"
    assert (fresh.status, fresh.payable_fen, fresh.wechat_pay_fen, fresh.carrier) == (
        "pending_payment",
        order.payable_fen,
        order.wechat_pay_fen,
        "",
    )


def test_orders_cannot_be_added_or_deleted(admin_client, express_order):
    order = express_order()
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403
    assert admin_client.get(change_url(order, "delete")).status_code == 403


def _inline_management_data(response):
    data = {}
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management.initial[name]
    return data


# --- shipping ---
def test_ship_from_the_detail_ships_and_tells_wechat(
    admin_client, express_order, wechat_sim, django_capture_on_commit_callbacks
):
    # given
    order = express_order()
    assert admin_client.get(change_url(order, "ship")).status_code == 200
    # when
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client.post(
            change_url(order, "ship"), {"carrier": "ZTO", "tracking_no": "ZT123456"}, follow=True
        )
    # then
    order.refresh_from_db()
    assert (order.status, order.carrier, order.tracking_no) == ("shipped", "ZTO", "ZT123456")
    assert (
        OrderStatusLog.objects.filter(order=order, to_status="shipped").get().actor == "admin:admin"
    )
    assert any("已发货" in message for message in messages_of(response))
    assert len(callbacks) >= 2  # the subscribe message and the shipping-info upload
    [upload] = wechat_sim.control("GET", "shipping")["results"]
    assert upload["shipping_list"][0]["express_company"] == "ZTO"
    assert "中通快递" in response.content.decode()  # the detail shows the carrier's name


def test_shipping_an_unpaid_order_shows_an_error_not_a_500(admin_client, express_order):
    # given
    order = express_order(paid=False)
    # when
    response = admin_client.post(
        change_url(order, "ship"), {"carrier": "SF", "tracking_no": "SF1"}, follow=True
    )
    # then
    assert response.status_code == 200
    assert any("发货失败" in m and "未支付" in m for m in messages_of(response))
    order.refresh_from_db()
    assert order.status == "pending_payment"
    assert order.tracking_no == ""


def test_ship_form_requires_a_known_carrier(admin_client, express_order):
    order = express_order()
    response = admin_client.post(change_url(order, "ship"), {"carrier": "XX", "tracking_no": "1"})
    assert response.status_code == 200
    assert response.context["form"].errors["carrier"]
    order.refresh_from_db()
    assert order.status == "paid"


def _xlsx(rows):
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    buffer.name = "发货.xlsx"
    return buffer


def test_bulk_ship_upload_ships_good_rows_and_reports_bad_ones(
    admin_client, express_order, pickup_order
):
    # given
    first, second, unpaid = express_order(), express_order(), express_order(paid=False)
    pickup = pickup_order()
    rows = [
        ["订单号", "快递公司", "快递单号"],
        [first.no, "顺丰", "SF1001"],
        [second.no, "YTO", 7300012345],  # a number, as Excel stores an untyped cell
        [unpaid.no, "中通快递", "ZT1"],
        [int(unpaid.no), "中通快递", "ZT1"],  # 18 digits as a number: rounded by Excel
        ["20990101000000000", "顺丰", "SF1"],
        [None, None, None],  # a blank row is skipped
        [first.no, "火星快递", "X1"],
        [pickup.no, "顺丰", "SF2"],
        [first.no, "顺丰速运", "SF1001"],  # the same shipment again
    ]
    # when
    response = admin_client.post(
        f"{CHANGELIST}bulk-ship/", {"file": _xlsx(rows)}, format="multipart"
    )
    # then
    assert response.status_code == 200
    results = {(r.row, r.outcome): r.message for r in response.context["results"]}
    assert [r.outcome for r in response.context["results"]] == [
        "shipped",
        "shipped",
        "error",
        "error",
        "error",
        "error",
        "error",
        "already_shipped",
    ]
    assert "未支付" in results[(4, "error")]
    assert "存成了数字" in results[(5, "error")]
    assert results[(6, "error")] == "订单不存在"
    assert "未知快递公司" in results[(8, "error")]
    assert "自提" in results[(9, "error")]
    first.refresh_from_db()
    second.refresh_from_db()
    unpaid.refresh_from_db()
    assert (first.status, first.carrier, first.tracking_no) == ("shipped", "SF", "SF1001")
    assert (second.status, second.carrier, second.tracking_no) == ("shipped", "YTO", "7300012345")
    assert unpaid.status == "pending_payment"
    content = response.content.decode()
    assert "发货 2 单，此前已发货 1 单，失败 5 单" in content
    assert "订单不存在" in content


def test_bulk_ship_rejects_a_file_without_the_columns(admin_client, express_order):
    order = express_order()
    response = admin_client.post(
        f"{CHANGELIST}bulk-ship/", {"file": _xlsx([["单号", "公司"], [order.no, "顺丰"]])}
    )
    assert response.status_code == 200
    assert any("缺少「订单号」列" in m for m in messages_of(response))
    broken = io.BytesIO(b"not a workbook")
    broken.name = "x.xlsx"
    response = admin_client.post(f"{CHANGELIST}bulk-ship/", {"file": broken})
    assert any("无法读取文件" in m for m in messages_of(response))
    order.refresh_from_db()
    assert order.status == "paid"


def test_bulk_ship_template_is_a_workbook_with_the_columns(admin_client):
    response = admin_client.get(f"{CHANGELIST}bulk-ship/template/")
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    assert [cell.value for cell in workbook.worksheets[0][1]] == ["订单号", "快递公司", "快递单号"]
    changelist = admin_client.get(CHANGELIST).content.decode()
    assert "bulk-ship/" in changelist
    assert "pickup/" in changelist


# --- pickup ---
def test_pickup_counter_finds_the_order_by_code_and_redeems_it(admin_client, pickup_order):
    # given
    order = pickup_order()
    # when: the code is typed
    response = admin_client.get(f"{CHANGELIST}pickup/", {"code": order.pickup_code})
    # then: the order is shown, with what to hand over
    assert response.status_code == 200
    assert response.context["order"].pk == order.pk
    content = response.content.decode()
    assert order.lines.get().title in content
    assert order.member.nickname in content
    assert "确认核销" in content
    # when: confirmed
    response = admin_client.post(
        f"{CHANGELIST}pickup/", {"code": order.pickup_code, "order_id": order.pk}, follow=True
    )
    # then
    order.refresh_from_db()
    assert order.status == "received"
    assert any("已核销" in m for m in messages_of(response))
    # and a second confirmation is refused with a message
    response = admin_client.post(
        f"{CHANGELIST}pickup/", {"code": order.pickup_code, "order_id": order.pk}, follow=True
    )
    assert any("核销失败" in m for m in messages_of(response))


def test_pickup_counter_wrong_or_unpaid_code(admin_client, pickup_order):
    # given
    unpaid = pickup_order(paid=False)
    wrong = "000000" if unpaid.pickup_code != "000000" else "111111"
    # then: a wrong code is a form error
    response = admin_client.get(f"{CHANGELIST}pickup/", {"code": wrong})
    assert response.status_code == 200
    assert response.context["order"] is None
    assert "没有找到待自提的订单" in response.content.decode()
    # an unpaid order is shown without the confirm button, and redeeming it is refused
    response = admin_client.get(f"{CHANGELIST}pickup/", {"code": unpaid.pickup_code})
    assert "尚未支付" in response.content.decode()
    assert "确认核销" not in response.content.decode()
    response = admin_client.post(
        f"{CHANGELIST}pickup/", {"code": unpaid.pickup_code, "order_id": unpaid.pk}, follow=True
    )
    assert any("订单尚未支付" in m for m in messages_of(response))
    unpaid.refresh_from_db()
    assert unpaid.status == "pending_payment"


def test_redeem_from_the_detail_checks_the_code(admin_client, pickup_order):
    order = pickup_order()
    wrong = "000000" if order.pickup_code != "000000" else "111111"
    response = admin_client.post(change_url(order, "redeem"), {"code": wrong})
    assert response.status_code == 200
    assert any("自提码无效" in m for m in messages_of(response))
    response = admin_client.post(change_url(order, "redeem"), {"code": order.pickup_code})
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == "received"


# --- cancelling ---
def test_cancel_action_cancels_unpaid_orders_only(admin_client, express_order):
    # given
    unpaid, paid = express_order(paid=False, qty=3), express_order()
    sku = Sku.objects.get(pk=unpaid.lines.get().sku_id)
    assert sku.stock == 7
    selection = {"action": "cancel_unpaid", "_selected_action": [unpaid.pk, paid.pk]}
    # when: the action asks for a reason first
    response = admin_client.post(CHANGELIST, selection)
    assert response.status_code == 200
    assert "取消原因" in response.content.decode()
    response = admin_client.post(
        CHANGELIST, selection | {"apply": "1", "reason": "买家电话要求取消"}, follow=True
    )
    # then
    unpaid.refresh_from_db()
    paid.refresh_from_db()
    assert (unpaid.status, unpaid.cancel_reason) == ("cancelled", "买家电话要求取消")
    assert paid.status == "paid"
    sku.refresh_from_db()
    assert sku.stock == 10
    found = messages_of(response)
    assert any("已取消 1 个订单" in m for m in found)
    assert any(paid.no in m and "未取消" in m for m in found)


def test_cancel_from_the_detail(admin_client, express_order):
    # given
    paid, unpaid = express_order(), express_order(paid=False)
    assert (
        f'href="{change_url(unpaid, "cancel")}"'
        in admin_client.get(change_url(unpaid)).content.decode()
    )
    # when
    response = admin_client.post(change_url(unpaid, "cancel"), {"reason": "缺货"}, follow=True)
    refused = admin_client.post(change_url(paid, "cancel"), {"reason": "缺货"}, follow=True)
    # then
    unpaid.refresh_from_db()
    paid.refresh_from_db()
    assert (unpaid.status, paid.status) == ("cancelled", "paid")
    assert any("已取消" in m for m in messages_of(response))
    assert any("取消失败" in m for m in messages_of(refused))


# --- export ---
def test_export_action_downloads_the_selected_orders(admin_client, express_order):
    # given
    orders = [express_order(price_fen=1234), express_order(price_fen=500), express_order()]
    # when
    response = admin_client.post(
        CHANGELIST, {"action": "export_selected", "_selected_action": [o.pk for o in orders[:2]]}
    )
    # then
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "订单号"
    assert {row[0] for row in rows[1:]} == {orders[0].no, orders[1].no}


# --- delivery settings and addresses ---
def test_pickup_point_list_counts_orders_and_toggles_active(
    admin_client, pickup_order, pickup_point
):
    pickup_order()
    pickup_order(paid=False)
    response = admin_client.get("/admin/orders/pickuppoint/")
    assert response.status_code == 200
    [point] = response.context["cl"].result_list
    assert (point.order_total, point.waiting_total) == (2, 1)
    assert "is_active" in response.context["cl"].list_editable


def test_freight_template_rules_take_provinces_as_text(admin_client):
    data = {
        "name": "江浙沪包邮",
        "charge_by": "piece",
        "free_over_fen": "",
        "rules-TOTAL_FORMS": "2",
        "rules-INITIAL_FORMS": "0",
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000",
        "rules-0-regions": "浙江，江苏省、上海",
        "rules-0-first_units": "1",
        "rules-0-first_fee_fen": "0",
        "rules-0-extra_units": "1",
        "rules-0-extra_fee_fen": "0",
        "rules-1-regions": "",
        "rules-1-first_units": "1",
        "rules-1-first_fee_fen": "1000",
        "rules-1-extra_units": "1",
        "rules-1-extra_fee_fen": "500",
    }
    # an unknown province is refused
    response = admin_client.post(
        "/admin/orders/freighttemplate/add/", data | {"rules-0-regions": "浙江,火星"}
    )
    assert response.status_code == 200
    assert "火星" in response.content.decode()
    # when
    response = admin_client.post("/admin/orders/freighttemplate/add/", data)
    # then
    assert response.status_code == 302
    template = FreightTemplate.objects.get(name="江浙沪包邮")
    assert [rule.regions for rule in template.rules.order_by("id")] == [
        ["浙江省", "江苏省", "上海市"],
        [],
    ]
    edit = admin_client.get(f"/admin/orders/freighttemplate/{template.pk}/change/")
    assert "浙江省,江苏省,上海市" in edit.content.decode()
    assert admin_client.get("/admin/orders/freighttemplate/").status_code == 200


def test_addresses_are_read_only_and_searchable(admin_client, member, address):
    AddressFactory(member=MemberFactory(), phone="13500000000", name="李四")
    response = admin_client.get("/admin/orders/address/", {"q": address.phone})
    assert response.status_code == 200
    assert [a.pk for a in response.context["cl"].result_list] == [address.pk]
    assert admin_client.get("/admin/orders/address/add/").status_code == 403
    detail = admin_client.get(f"/admin/orders/address/{address.pk}/change/")
    assert detail.status_code == 200
    assert "adminform" in detail.context
    assert list(detail.context["adminform"].form.fields) == []
    assert admin.site.is_registered(Address)
    assert not admin.site.is_registered(CartItem)


def test_orders_app_index_links_the_tools(admin_client):
    content = admin_client.get("/admin/orders/").content.decode()
    assert "核销自提" in content
    assert "批量发货" in content
