"""Paying over real HTTP: the shop asks the simulator for a prepay, the simulator pays and
notifies the shop's notify view (pytest-django's live server), the ledger records it once."""

import pytest

from members.models import SubscribeMessage
from orders.models import Order
from orders.services import order_close_if_unpaid
from payments.models import LedgerEntry, PaymentAttempt, Refund
from payments.tests.conftest import place_order, wait_until, wechat_ledger

pytestmark = pytest.mark.django_db(transaction=True)


def paid(order: Order) -> bool:
    order.refresh_from_db()
    return order.status == "paid"


def test_login_order_pay_notify_paid_one_ledger_row(
    shopper, sku, callbacks, sim_pay, sim_quiet, wechat_sim
):
    # given
    order = place_order(shopper.member, [(sku, 2)])
    # when
    answer = shopper.pay(order)
    payment = sim_pay(answer)
    # then
    wait_until(lambda: paid(order), what="the order to be paid")
    sim_quiet()
    attempt = PaymentAttempt.objects.get(order=order)
    assert (attempt.status, attempt.transaction_id) == ("paid", payment["transaction_id"])
    assert attempt.amount_fen == order.wechat_pay_fen == 3998
    assert order.out_trade_no == attempt.out_trade_no == f"{order.no}P1"
    assert wechat_ledger(order) == [("wechat_payment", "in", 3998)]
    entry = LedgerEntry.objects.get(order=order)
    assert entry.external_key == f"wxpay:{payment['transaction_id']}"
    assert entry.member_id == shopper.member.pk
    notifications = wechat_sim.control("GET", "notifications")["results"]
    assert [n["answered_success"] for n in notifications] == [True]
    assert SubscribeMessage.objects.filter(dedup_key=f"paid:{order.no}").count() == 1


def test_duplicated_five_times_and_reordered_gives_one_ledger_row(
    shopper, sku, callbacks, sim_pay, sim_quiet, wechat_sim
):
    # given
    wechat_sim.control("POST", "faults", json={"duplicate": 5, "reorder": True, "seed": 7})
    order = place_order(shopper.member, [(sku, 1)])
    # when
    sim_pay(shopper.pay(order))
    sim_quiet()
    # then
    sent = wechat_sim.control("GET", "notifications")["results"]
    assert len(sent) == 6
    assert all(n["answered_success"] for n in sent)
    assert paid(order)
    assert wechat_ledger(order) == [("wechat_payment", "in", 1999)]
    assert order.status_logs.filter(to_status="paid").count() == 1


def test_forged_and_wrong_amount_copies_are_refused_the_genuine_one_settles(
    shopper, sku, callbacks, sim_pay, sim_quiet, wechat_sim, caplog
):
    # given: each attempt is preceded by a copy signed with another key and by a correctly
    # signed copy claiming one fen more
    wechat_sim.control("POST", "faults", json={"forge": 1.0, "wrong_amount": 1.0})
    order = place_order(shopper.member, [(sku, 1)])
    # when
    sim_pay(shopper.pay(order))
    sim_quiet()
    # then
    sent = wechat_sim.control("GET", "notifications")["results"]
    refused = [n for n in sent if n["variant"] in ("forged", "wrong_amount")]
    assert {n["variant"] for n in refused} == {"forged", "wrong_amount"}
    assert all("FAIL" in n["response"] for n in refused)
    assert "total_fee 2000 != 1999" in caplog.text
    assert "payment notification from 127.0.0.1 rejected" in caplog.text
    assert paid(order)
    assert wechat_ledger(order) == [("wechat_payment", "in", 1999)]


def test_two_attempts_both_paid_the_second_is_refunded(
    shopper, sku, callbacks, sim_pay, sim_quiet, wechat_sim
):
    # given: two prepays for one order (the first went stale, so a second attempt was made)
    order = place_order(shopper.member, [(sku, 1)])
    first = shopper.pay(order)
    PaymentAttempt.objects.filter(order=order).update(prepay_expires_at=order.created_at)
    second = shopper.pay(order)
    assert first["request_payment"]["package"] != second["request_payment"]["package"]
    # when: the shopper manages to pay both (e.g. two phones)
    sim_pay(first)
    sim_pay(second)
    sim_quiet()
    # then: both payments are recorded, the later one is refunded in full
    assert paid(order)
    refund = Refund.objects.get(order=order)
    assert (refund.is_automatic, refund.status, refund.amount_fen) == (True, "success", 1999)
    assert refund.attempt.out_trade_no != order.out_trade_no
    assert wechat_ledger(order) == [
        ("wechat_payment", "in", 1999),
        ("wechat_payment", "in", 1999),
        ("wechat_refund", "out", 1999),
    ]
    trades = wechat_sim.control("GET", "trades")["results"]
    assert sorted(t["refunded_fee"] for t in trades) == [0, 1999]


def test_a_payment_for_an_order_expired_meanwhile_is_recorded_and_refunded(
    shopper, sku, callbacks, sim_pay, sim_quiet, wechat_sim
):
    # given: the shopper has the payment sheet open; the notification will take a moment
    wechat_sim.control("POST", "faults", json={"delay_s": 0.3})
    order = place_order(shopper.member, [(sku, 3)])
    answer = shopper.pay(order)
    # when: the shopper pays, and the order expires before the notification arrives
    sim_pay(answer)
    assert order_close_if_unpaid(order_id=order.pk, now=order.expires_at) is True
    sim_quiet()
    # then: not lost: the money is in the ledger and went back automatically
    order.refresh_from_db()
    assert order.status == "cancelled"
    refund = Refund.objects.get(order=order)
    assert (refund.is_automatic, refund.status, refund.wechat_fen) == (True, "success", 5997)
    assert refund.out_refund_no == f"R{order.no}P1"
    assert wechat_ledger(order) == [("wechat_payment", "in", 5997), ("wechat_refund", "out", 5997)]
    assert PaymentAttempt.objects.get(order=order).status == "paid"
    assert wechat_sim.control("GET", "trades")["results"][0]["refunded_fee"] == 5997
    sku.refresh_from_db()
    assert sku.stock == 1000  # released by the expiry, not again by the refund
