"""The state machine, shipping (with WeChat through the simulator), pickup, receipt and the sweep."""

import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from catalog.models import Sku, StockLog
from catalog.tests.factories import SkuFactory
from mall.errors import OrderStatusInvalid, PickupCodeInvalid
from members.models import Member, SubscribeMessage
from orders.models import Order, OrderStatusLog
from orders.services import (
    TransitionNotAllowed,
    order_cancel,
    order_close_if_unpaid,
    order_receive,
    order_ship,
    order_transition,
    orders_sweep,
    pickup_redeem,
)
from orders.tests.factories import AddressFactory, PickupPointFactory

pytestmark = pytest.mark.django_db

UPLOAD_PATH = "/wxa/sec/order/upload_shipping_info"


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


@pytest.fixture
def logged_in(member_login):
    member_id, client = member_login("o-buyer")
    member = Member.objects.get(pk=member_id)
    return member, client


@pytest.fixture
def paid_order(logged_in, place_order):
    member, _ = logged_in
    sku = SkuFactory(price_fen=3000, stock=10)
    return pay(
        place_order(member, [(sku, 2)], address=AddressFactory(member=member, phone="13912345678"))
    )


# --- the state machine ---
def test_transition_outside_the_table_raises(member, place_order, sku, address):
    order = place_order(member, [(sku, 1)], address=address)
    with pytest.raises(TransitionNotAllowed):
        order_transition(
            order_id=order.pk, from_status="pending_payment", to_status="shipped", actor="system"
        )
    with pytest.raises(TransitionNotAllowed):
        order_transition(
            order_id=order.pk, from_status="completed", to_status="paid", actor="system"
        )


def test_lost_transition_writes_no_log(member, place_order, sku, address):
    # given
    order = place_order(member, [(sku, 1)], address=address)
    # when
    won = order_transition(
        order_id=order.pk, from_status="paid", to_status="shipped", actor="system"
    )
    # then
    assert won is False
    assert list(OrderStatusLog.objects.filter(order=order).values_list("to_status", flat=True)) == [
        "pending_payment"
    ]


def test_transition_sets_its_timestamp_and_logs_the_actor(member, place_order, sku, address):
    order = pay(place_order(member, [(sku, 1)], address=address))
    assert order.paid_at is not None
    assert order.out_trade_no == order.no
    log = OrderStatusLog.objects.filter(order=order).last()
    assert (log.from_status, log.to_status, log.actor) == ("pending_payment", "paid", "wechat")


# --- cancel and expiry ---
def test_cancel_restores_stock_and_is_idempotent(member, place_order, address):
    # given
    sku = SkuFactory(stock=10)
    order = place_order(member, [(sku, 3)], address=address)
    # when
    order_cancel(order_id=order.pk, actor="member:1", reason="拍错了")
    order_cancel(order_id=order.pk, actor="member:1", reason="拍错了")
    # then
    order.refresh_from_db()
    assert (order.status, order.cancel_reason) == ("cancelled", "拍错了")
    assert Sku.objects.get(pk=sku.pk).stock == 10
    assert StockLog.objects.filter(reference=order.no, reason="order_release").count() == 1


def test_paid_order_cannot_be_cancelled(member, place_order, sku, address):
    order = pay(place_order(member, [(sku, 1)], address=address))
    with pytest.raises(OrderStatusInvalid):
        order_cancel(order_id=order.pk, actor="member:1", reason="")


def test_close_if_unpaid_waits_for_the_deadline(member, place_order, sku, address):
    # given
    order = place_order(member, [(sku, 1)], address=address)
    # when / then
    assert order_close_if_unpaid(order_id=order.pk) is False
    assert order_close_if_unpaid(order_id=order.pk, now=order.expires_at) is True
    assert order_close_if_unpaid(order_id=order.pk, now=order.expires_at) is False
    order.refresh_from_db()
    assert (order.status, order.cancel_reason) == ("cancelled", "超时未支付")


def test_paid_order_is_not_expired(member, place_order, sku, address):
    order = pay(place_order(member, [(sku, 1)], address=address))
    assert (
        order_close_if_unpaid(order_id=order.pk, now=order.expires_at + timedelta(hours=1)) is False
    )


# --- shipping ---
def test_shipping_queues_message_and_uploads_to_wechat(
    paid_order, wechat_sim, django_capture_on_commit_callbacks
):
    # when
    with django_capture_on_commit_callbacks(execute=True):
        order_ship(
            order_id=paid_order.pk, carrier="SF", tracking_no="SF1234567890", actor="admin:boss"
        )
    # then: the shopper's message
    [message] = wechat_sim.messages("o-buyer")
    assert message["template_id"] == "tmpl-order-shipped"
    assert message["data"]["character_string1"]["value"] == paid_order.no
    assert message["data"]["character_string4"]["value"] == "SF1234567890"
    # and WeChat's shipping information
    [upload] = wechat_sim.control("GET", "shipping")["results"]
    assert upload["order_key"] == {
        "order_number_type": 1,
        "mchid": "1900000109",
        "out_trade_no": paid_order.no,
    }
    assert (upload["logistics_type"], upload["delivery_mode"]) == (1, 1)
    assert upload["shipping_list"][0]["tracking_no"] == "SF1234567890"
    assert upload["shipping_list"][0]["express_company"] == "SF"
    assert upload["shipping_list"][0]["contact"] == {"receiver_contact": "139****5678"}
    assert upload["payer"] == {"openid": "o-buyer"}
    assert upload["upload_time"].endswith("+08:00")
    paid_order.refresh_from_db()
    assert paid_order.status == "shipped"
    assert paid_order.shipping_info_uploaded_at is not None
    assert (
        OrderStatusLog.objects.filter(
            order=paid_order, to_status="shipped", actor="admin:boss"
        ).count()
        == 1
    )


@pytest.fixture
def real_worker(settings, real_worker):
    settings.ORDER_SHIPPING_UPLOAD_RETRY_BASE_SECONDS = 0
    settings.SUBSCRIBE_MESSAGE_RETRY_BASE_SECONDS = 0


def _wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.django_db(transaction=True)
def test_a_worker_retries_the_upload_while_wechat_is_busy(paid_order, wechat_sim, real_worker):
    # given
    wechat_sim.inject_error(UPLOAD_PATH, -1, times=2, errmsg="system error")
    # when
    order_ship(order_id=paid_order.pk, carrier="YTO", tracking_no="YT1", actor="admin:boss")
    # then
    assert _wait_for(
        lambda: Order.objects.get(pk=paid_order.pk).shipping_info_uploaded_at is not None
    )
    assert wechat_sim.request_count(UPLOAD_PATH) == 3
    assert len(wechat_sim.control("GET", "shipping")["results"]) == 1
    assert _wait_for(lambda: len(wechat_sim.messages("o-buyer")) == 1)


def test_an_upload_that_failed_eagerly_is_retried_by_the_sweep(
    paid_order, wechat_sim, django_capture_on_commit_callbacks
):
    # given: WeChat is busy when the order ships (embedded mode runs the task in the request)
    wechat_sim.inject_error(UPLOAD_PATH, -1, times=1)
    with django_capture_on_commit_callbacks(execute=True):
        order_ship(order_id=paid_order.pk, carrier="YTO", tracking_no="YT1", actor="admin:boss")
    paid_order.refresh_from_db()
    assert paid_order.status == "shipped"
    assert paid_order.shipping_info_uploaded_at is None
    # when
    soon = orders_sweep(now=timezone.now() + timedelta(minutes=5))
    later = orders_sweep(now=timezone.now() + timedelta(minutes=31))
    again = orders_sweep(now=timezone.now() + timedelta(minutes=32))
    # then
    assert (soon["uploaded"], later["uploaded"], again["uploaded"]) == (0, 1, 0)
    assert wechat_sim.request_count(UPLOAD_PATH) == 2
    paid_order.refresh_from_db()
    assert paid_order.shipping_info_uploaded_at is not None


def test_shipping_again_is_a_no_op_and_other_tracking_is_refused(
    paid_order, wechat_sim, django_capture_on_commit_callbacks
):
    # given
    with django_capture_on_commit_callbacks(execute=True):
        order_ship(order_id=paid_order.pk, carrier="SF", tracking_no="SF1", actor="admin:boss")
    # when
    with django_capture_on_commit_callbacks(execute=True) as again:
        order_ship(order_id=paid_order.pk, carrier="SF", tracking_no="SF1", actor="admin:boss")
    # then
    assert again == []
    assert len(wechat_sim.messages("o-buyer")) == 1
    assert SubscribeMessage.objects.count() == 1
    with pytest.raises(OrderStatusInvalid):
        order_ship(order_id=paid_order.pk, carrier="SF", tracking_no="SF2", actor="admin:boss")


def test_unpaid_or_pickup_orders_are_not_shipped(member, place_order, sku, address):
    unpaid = place_order(member, [(sku, 1)], address=address)
    pickup = pay(place_order(member, [(sku, 1)], pickup_point=PickupPointFactory()))
    for order in (unpaid, pickup):
        with pytest.raises(OrderStatusInvalid):
            order_ship(order_id=order.pk, carrier="SF", tracking_no="SF1", actor="admin:boss")
    assert Order.objects.filter(status="shipped").count() == 0


# --- pickup ---
@pytest.fixture
def pickup_order(logged_in, place_order):
    member, _ = logged_in
    return place_order(member, [(SkuFactory(price_fen=800), 1)], pickup_point=PickupPointFactory())


def test_pickup_code_is_redeemed_once(pickup_order, wechat_sim, django_capture_on_commit_callbacks):
    # given
    pay(pickup_order)
    code = pickup_order.pickup_code
    # when
    with django_capture_on_commit_callbacks(execute=True):
        redeemed = pickup_redeem(code=code, actor="admin:clerk")
    # then
    assert redeemed.pk == pickup_order.pk
    assert redeemed.status == "received"
    [upload] = wechat_sim.control("GET", "shipping")["results"]
    assert upload["logistics_type"] == 4
    with pytest.raises(PickupCodeInvalid):
        pickup_redeem(code=code, actor="admin:clerk")  # no open order has it any more
    with pytest.raises(OrderStatusInvalid):
        pickup_redeem(code=code, order_id=pickup_order.pk, actor="admin:clerk")


def test_pickup_redeem_checks_the_code_and_payment(pickup_order):
    code = pickup_order.pickup_code
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    with pytest.raises(PickupCodeInvalid):
        pickup_redeem(code=wrong, order_id=pickup_order.pk, actor="admin:clerk")
    with pytest.raises(OrderStatusInvalid):
        pickup_redeem(code=code, order_id=pickup_order.pk, actor="admin:clerk")  # not paid yet
    pay(pickup_order)
    assert (
        pickup_redeem(code=code, order_id=pickup_order.pk, actor="admin:clerk").status == "received"
    )


def test_pickup_code_is_shown_only_while_waiting_for_pickup(pickup_order, logged_in):
    _, client = logged_in
    url = f"/api/v1/orders/{pickup_order.no}"
    assert client.get(url).json()["pickup_code"] is None
    pay(pickup_order)
    body = client.get(url).json()
    assert body["pickup_code"] == pickup_order.pickup_code
    assert len(body["pickup_code"]) == 6
    assert body["status_label"] == "待自提"
    pickup_redeem(code=pickup_order.pickup_code, actor="admin:clerk")
    assert client.get(url).json()["pickup_code"] is None


# --- receipt and completion ---
def test_shopper_confirms_receipt(paid_order, logged_in):
    # given
    _, client = logged_in
    order_ship(order_id=paid_order.pk, carrier="SF", tracking_no="SF1", actor="admin:boss")
    # when
    response = client.post(f"/api/v1/orders/{paid_order.no}/receive")
    again = client.post(f"/api/v1/orders/{paid_order.no}/receive")
    # then
    assert response.status_code == 200
    assert response.json()["status"] == "received"
    assert again.status_code == 200
    assert [e["status"] for e in response.json()["timeline"]] == [
        "pending_payment",
        "paid",
        "shipped",
        "received",
    ]


def test_receipt_of_an_unshipped_order_is_refused(paid_order):
    with pytest.raises(OrderStatusInvalid):
        order_receive(order_id=paid_order.pk, actor="member:1")


def test_sweep_expires_receives_and_completes_when_due(member, place_order, address, settings):
    # given
    settings.ORDER_AUTO_RECEIVE_DAYS, settings.AFTER_SALE_DAYS = 7, 7
    sku = SkuFactory(stock=10)
    unpaid = place_order(member, [(sku, 1)], address=address)
    shipped = pay(place_order(member, [(sku, 1)], address=address))
    order_ship(order_id=shipped.pk, carrier="SF", tracking_no="SF1", actor="admin:boss")
    now = timezone.now()
    # when / then: nothing is due yet
    assert orders_sweep(now=now) == {
        "expired": 0,
        "received": 0,
        "completed": 0,
        "uploaded": 0,
        "has_more": 0,
    }
    # an hour later the unpaid order has expired
    assert orders_sweep(now=now + timedelta(hours=1))["expired"] == 1
    # seven days after shipping it is received, seven more and it is completed
    assert orders_sweep(now=now + timedelta(days=7, minutes=1))["received"] == 1
    assert orders_sweep(now=now + timedelta(days=14))["completed"] == 0  # received at day 7
    assert orders_sweep(now=now + timedelta(days=14, minutes=2))["completed"] == 1
    unpaid.refresh_from_db()
    shipped.refresh_from_db()
    assert (unpaid.status, shipped.status) == ("cancelled", "completed")
    assert Sku.objects.get(pk=sku.pk).stock == 9


def test_sweep_works_in_bounded_batches(member, place_order, address, sku):
    # given
    for _ in range(5):
        place_order(member, [(sku, 1)], address=address)
    later = timezone.now() + timedelta(hours=1)
    # when
    first = orders_sweep(now=later, batch_size=2)
    rest = orders_sweep(now=later, batch_size=10)
    # then
    assert (first["expired"], first["has_more"]) == (2, 1)
    assert (rest["expired"], rest["has_more"]) == (3, 0)


def test_sweep_orders_command_prints_counts(member, place_order, address, sku):
    order = place_order(member, [(sku, 1)], address=address)
    Order.objects.filter(pk=order.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    out = StringIO()
    call_command("sweep_orders", "--batch-size", "1", stdout=out)
    call_command("sweep_orders", stdout=out)
    assert out.getvalue().splitlines() == [
        "expired=1 received=0 completed=0 uploaded=0",
        "expired=0 received=0 completed=0 uploaded=0",
    ]


def test_demo_delivery_data_is_idempotent():
    from orders.demo import seed_demo
    from orders.models import FreightTemplate, PickupPoint

    for _ in range(2):
        seed_demo(StringIO())
    assert FreightTemplate.objects.filter(is_default=True).count() == 1
    assert PickupPoint.objects.count() == 2
