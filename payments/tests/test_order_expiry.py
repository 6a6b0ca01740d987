"""Expiry asks WeChat first: a paid order is settled, an unpaid one cancelled and its WeChat
trade closed; a payment that slips in is recorded and refunded."""

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from mall.errors import WechatUnavailable
from orders.models import Order
from orders.services import order_cancel
from orders.tasks import order_close_if_unpaid_task, orders_sweep_task
from payments.models import PaymentAttempt, Refund
from payments.services import SettleOutcome, order_expire, payment_attempts_sync
from payments.tests.conftest import place_order, wechat_ledger

pytestmark = pytest.mark.django_db


def trade(wechat_sim, attempt: PaymentAttempt) -> dict:
    return wechat_sim.control("GET", "trades", params={"out_trade_no": attempt.out_trade_no})[
        "results"
    ][0]


def test_a_paid_order_whose_notification_was_lost_is_settled_not_expired(
    shopper, sku, wechat_sim, sim_pay
):
    # given
    order = place_order(shopper.member, [(sku, 1)])
    sim_pay(shopper.pay(order))
    # when
    cancelled = order_expire(order_id=order.pk, now=order.expires_at)
    # then
    order.refresh_from_db()
    assert (cancelled, order.status) == (False, "paid")
    assert wechat_ledger(order) == [("wechat_payment", "in", 1999)]


def test_an_unpaid_order_is_cancelled_and_its_wechat_trade_closed(shopper, sku, wechat_sim):
    # given
    order = place_order(shopper.member, [(sku, 2)])
    answer = shopper.pay(order)
    # when
    cancelled = order_expire(order_id=order.pk, now=order.expires_at)
    again = order_expire(order_id=order.pk, now=order.expires_at)
    # then
    order.refresh_from_db()
    attempt = PaymentAttempt.objects.get(order=order)
    assert (cancelled, again, order.status, attempt.status) == (True, False, "cancelled", "closed")
    assert trade(wechat_sim, attempt)["state"] == "CLOSED"
    sku.refresh_from_db()
    assert sku.stock == 1000
    late = requests.post(
        wechat_sim.base_url + "_sim/pay", json=answer["request_payment"], timeout=5
    )
    assert late.status_code == 400  # the shopper can no longer pay it


def test_an_order_not_yet_due_is_left_alone(shopper, sku, wechat_sim):
    order = place_order(shopper.member, [(sku, 1)])
    shopper.pay(order)
    assert order_expire(order_id=order.pk) is False
    assert wechat_sim.request_count("/pay/orderquery") == 0


def test_a_trade_paid_after_the_order_was_cancelled_is_settled_and_refunded_by_the_beat(
    shopper, sku, wechat_sim, sim_pay, django_capture_on_commit_callbacks
):
    # given: the shopper cancels in one tab and pays in the other
    order = place_order(shopper.member, [(sku, 1)])
    answer = shopper.pay(order)
    order_cancel(order_id=order.pk, actor="member:1", reason="不要了")
    payment = sim_pay(answer)
    # when: the beat closes the open trade of the cancelled order: WeChat says ORDERPAID
    with django_capture_on_commit_callbacks(execute=True):
        result = payment_attempts_sync(now=timezone.now() + timedelta(minutes=4))
    # then: recorded, and refunded in full
    assert result["closed"] == 0
    refund = Refund.objects.get(order=order)
    assert (refund.is_automatic, refund.status, refund.wechat_fen) == (True, "processing", 1999)
    assert wechat_ledger(order) == [("wechat_payment", "in", 1999)]
    attempt = PaymentAttempt.objects.get(order=order)
    assert (attempt.status, attempt.transaction_id) == ("paid", payment["transaction_id"])
    order.refresh_from_db()
    assert order.status == "cancelled"


def test_expiry_waits_for_wechat_within_the_grace_period(shopper, sku, wechat_sim, settings):
    # given: a prepay exists, then WeChat becomes unreachable
    order = place_order(shopper.member, [(sku, 1)])
    shopper.pay(order)
    settings.WECHAT_PAY_API_BASE = "http://127.0.0.1:9/"
    settings.PAYMENT_EXPIRY_WECHAT_GRACE_SECONDS = 600
    # when / then: within the grace period the order waits
    with pytest.raises(WechatUnavailable):
        order_expire(order_id=order.pk, now=order.expires_at + timedelta(minutes=1))
    order.refresh_from_db()
    assert order.status == "pending_payment"
    # after it, the order is cancelled anyway (a late payment would be refunded)
    assert order_expire(order_id=order.pk, now=order.expires_at + timedelta(minutes=11)) is True
    order.refresh_from_db()
    assert order.status == "cancelled"
    assert PaymentAttempt.objects.get(order=order).status == "prepaid"  # closed by the beat later


def test_the_expiry_task_and_the_sweep_go_through_payments(shopper, sku, wechat_sim, sim_pay):
    # given: two overdue orders, one of which the shopper paid (the notification was lost)
    paid, unpaid = (place_order(shopper.member, [(sku, 1)]) for _ in range(2))
    sim_pay(shopper.pay(paid))
    shopper.pay(unpaid)
    Order.objects.filter(pk__in=[paid.pk, unpaid.pk]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    # when
    by_task = order_close_if_unpaid_task(paid.pk)
    swept = orders_sweep_task()
    # then
    paid.refresh_from_db()
    unpaid.refresh_from_db()
    assert (by_task, swept["expired"]) == (False, 1)
    assert (paid.status, unpaid.status) == ("paid", "cancelled")
    assert PaymentAttempt.objects.get(order=unpaid).status == "closed"


def test_settle_reports_refunding_for_a_cancelled_order(shopper, sku, wechat_sim):
    from payments.services import payment_settle

    order = place_order(shopper.member, [(sku, 1)])
    shopper.pay(order)
    order_cancel(order_id=order.pk, actor="member:1", reason="")
    attempt = PaymentAttempt.objects.get(order=order)
    outcome = payment_settle(
        out_trade_no=attempt.out_trade_no,
        transaction_id="T-late",
        total_fee=1999,
        paid_at=timezone.now(),
        source="test",
    )
    assert outcome == SettleOutcome.REFUNDING
    assert outcome.is_recorded
    assert Refund.objects.get(order=order).reason == "订单已关闭，付款自动退回"
