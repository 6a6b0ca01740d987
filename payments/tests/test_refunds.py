"""Refunds from the stored allocation: partial and full, idempotent, never more than paid, settled
once by notification or query, stock back once."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from catalog.models import Sku, StockLog
from catalog.tests.factories import SkuFactory
from mall.errors import RefundExceedsPaid, RefundNotAllowed, RefundNumberReused
from mall.money import mul_div_round_half_up
from orders.models import Order, OrderLine
from orders.tests.factories import FreightRuleFactory, FreightTemplateFactory
from payments import wechat
from payments.models import LedgerEntry, Refund, RefundLine
from payments.services import (
    RefundLineInput,
    refund_query_sync,
    refund_request,
    refunds_sync,
)
from payments.tests.conftest import (
    pay_and_settle,
    place_order,
    refund_and_settle,
    wait_until,
    wechat_ledger,
)

pytestmark = pytest.mark.django_db

REFUND_NOTIFY = "/api/v1/payments/wechat/refund-notify"


@pytest.fixture
def shipping_fee(db):
    """A shipping fee that allocates unevenly over lines."""
    template = FreightTemplateFactory(is_default=True)
    FreightRuleFactory(template=template, first_fee_fen=1001, extra_fee_fen=0)


@pytest.fixture
def two_line_order(shopper, wechat_sim, sim_pay, shipping_fee, instant_refunds):
    """Paid: 3 × 1999 and 1 × 500, shipping 1001 allocated to the lines."""
    tea, cup = SkuFactory(price_fen=1999, stock=50), SkuFactory(price_fen=500, stock=50)
    order = place_order(shopper.member, [(tea, 3), (cup, 1)])
    pay_and_settle(shopper, order, sim_pay)
    lines = list(order.lines.order_by("id"))
    assert sum(line.paid_fen for line in lines) == order.payable_fen == 7498
    return order, lines


def test_partial_refunds_take_the_allocation_and_the_last_units_the_remainder(
    two_line_order, django_capture_on_commit_callbacks
):
    # given
    order, (tea, _) = two_line_order
    assert tea.paid_fen % 3  # a share of the shipping fee that does not divide by 3
    # when: one tea, then the two teas left
    first = refund_and_settle(
        django_capture_on_commit_callbacks,
        order_id=order.pk,
        lines=[RefundLineInput(order_line_id=tea.pk, quantity=1)],
        reason="少发一件",
        requested_by="admin:boss",
        restock=False,
    )
    rest = refund_and_settle(
        django_capture_on_commit_callbacks,
        order_id=order.pk,
        lines=[RefundLineInput(order_line_id=tea.pk, quantity=2)],
        reason="不想要了",
        requested_by="admin:boss",
        restock=False,
    )
    # then
    assert first.amount_fen == mul_div_round_half_up(tea.paid_fen, 1, 3)
    assert rest.amount_fen == tea.paid_fen - first.amount_fen
    assert (first.status, rest.status) == ("success", "success")
    assert (first.out_refund_no, rest.out_refund_no) == (f"R{order.no}001", f"R{order.no}002")
    tea.refresh_from_db()
    assert (tea.refunded_quantity, tea.refunded_fen) == (3, tea.paid_fen)
    order.refresh_from_db()
    assert order.status == "paid"  # the cup is not refunded
    assert wechat_ledger(order)[1:] == [
        ("wechat_refund", "out", first.amount_fen),
        ("wechat_refund", "out", rest.amount_fen),
    ]


def test_a_full_refund_takes_everything_left_closes_the_order_and_restocks_once(
    two_line_order, django_capture_on_commit_callbacks
):
    # given: one tea refunded already
    order, (tea, cup) = two_line_order
    refund_and_settle(
        django_capture_on_commit_callbacks,
        order_id=order.pk,
        lines=[RefundLineInput(order_line_id=tea.pk, quantity=1)],
        reason="",
        requested_by="admin:boss",
        restock=True,
    )
    # when
    full = refund_and_settle(
        django_capture_on_commit_callbacks,
        order_id=order.pk,
        lines=None,
        reason="整单退款",
        requested_by="admin:boss",
        restock=True,
    )
    refund_query_sync(refund_id=full.pk)  # asked again: nothing more happens
    # then
    order.refresh_from_db()
    assert order.status == "closed"
    assert sum(r.amount_fen for r in order.refunds.all()) == order.payable_fen
    assert {(i.order_line_id, i.quantity) for i in full.lines.all()} == {(tea.pk, 2), (cup.pk, 1)}
    assert Sku.objects.get(pk=tea.sku_id).stock == 50
    assert Sku.objects.get(pk=cup.sku_id).stock == 50
    assert StockLog.objects.filter(reference=full.out_refund_no).count() == 2
    assert full.restocked_at is not None
    assert order.status_logs.filter(to_status="closed").count() == 1
    ledger = wechat_ledger(order)
    assert sum(a for k, _, a in ledger if k == "wechat_refund") == order.payable_fen


def test_a_refund_number_is_idempotent(two_line_order, django_capture_on_commit_callbacks):
    # given
    order, (tea, _) = two_line_order
    ask = {
        "order_id": order.pk,
        "lines": [RefundLineInput(order_line_id=tea.pk, quantity=1)],
        "reason": "",
        "requested_by": "admin:boss",
        "out_refund_no": "R-FORM-1",
        "restock": False,
    }
    # when
    first = refund_request(**ask)
    second = refund_request(**ask)
    # then
    assert first.pk == second.pk
    assert Refund.objects.count() == 1
    other = place_order(order.member, [(SkuFactory(price_fen=100), 1)])
    with pytest.raises(RefundNumberReused):
        refund_request(**ask | {"order_id": other.pk})


def test_refunds_in_flight_count_against_what_is_left(two_line_order):
    # given: two teas are being refunded (WeChat has not answered)
    order, (tea, cup) = two_line_order
    refund_request(
        order_id=order.pk,
        lines=[RefundLineInput(order_line_id=tea.pk, quantity=2)],
        reason="",
        requested_by="admin:boss",
        restock=False,
    )
    # when / then
    with pytest.raises(RefundExceedsPaid) as too_many:
        refund_request(
            order_id=order.pk,
            lines=[RefundLineInput(order_line_id=tea.pk, quantity=2)],
            reason="",
            requested_by="admin:boss",
            restock=False,
        )
    assert too_many.value.detail == {"order_line_id": tea.pk, "requested": 2, "refundable": 1}
    rest = refund_request(
        order_id=order.pk, lines=None, reason="", requested_by="admin:boss", restock=False
    )
    assert {(i.order_line_id, i.quantity) for i in rest.lines.all()} == {(tea.pk, 1), (cup.pk, 1)}
    assert sum(r.amount_fen for r in Refund.objects.filter(order=order)) == order.payable_fen
    with pytest.raises(RefundExceedsPaid):
        refund_request(
            order_id=order.pk, lines=None, reason="", requested_by="admin:boss", restock=False
        )


def test_unpaid_orders_and_unknown_lines_cannot_be_refunded(shopper, sku, two_line_order):
    order, _ = two_line_order
    unpaid = place_order(shopper.member, [(sku, 1)])
    with pytest.raises(RefundNotAllowed):
        refund_request(
            order_id=unpaid.pk, lines=None, reason="", requested_by="admin:boss", restock=False
        )
    foreign_line = unpaid.lines.get()
    with pytest.raises(RefundNotAllowed):
        refund_request(
            order_id=order.pk,
            lines=[RefundLineInput(order_line_id=foreign_line.pk, quantity=1)],
            reason="",
            requested_by="admin:boss",
            restock=False,
        )
    with pytest.raises(RefundExceedsPaid):
        refund_request(
            order_id=order.pk,
            lines=[RefundLineInput(order_line_id=order.lines.first().pk, quantity=0)],
            reason="",
            requested_by="admin:boss",
            restock=False,
        )
    assert not Refund.objects.exists()


def test_wechat_closing_a_refund_makes_the_amount_refundable_again(
    two_line_order, wechat_sim, django_capture_on_commit_callbacks
):
    # given
    order, (tea, _) = two_line_order
    wechat_sim.control("POST", "faults", json={"refund_result": "REFUNDCLOSE"})
    # when
    closed = refund_and_settle(
        django_capture_on_commit_callbacks,
        order_id=order.pk,
        lines=[RefundLineInput(order_line_id=tea.pk, quantity=3)],
        reason="",
        requested_by="admin:boss",
        restock=True,
    )
    wechat_sim.control("POST", "faults", json={"refund_result": "SUCCESS"})
    again = refund_and_settle(
        django_capture_on_commit_callbacks,
        order_id=order.pk,
        lines=[RefundLineInput(order_line_id=tea.pk, quantity=3)],
        reason="",
        requested_by="admin:boss",
        restock=False,
    )
    # then
    assert (closed.status, closed.restocked_at) == ("closed", None)
    assert again.status == "success"
    assert again.amount_fen == tea.paid_fen
    assert [k for k, _, _ in wechat_ledger(order)] == ["wechat_payment", "wechat_refund"]


def test_wechat_refund_change_is_marked_change(
    two_line_order, wechat_sim, django_capture_on_commit_callbacks
):
    order, (tea, _) = two_line_order
    wechat_sim.control("POST", "faults", json={"refund_result": "CHANGE"})
    failed = refund_and_settle(
        django_capture_on_commit_callbacks,
        order_id=order.pk,
        lines=[RefundLineInput(order_line_id=tea.pk, quantity=1)],
        reason="",
        requested_by="admin:boss",
        restock=False,
    )
    assert failed.status == "change"
    assert "CHANGE" in failed.last_error
    tea.refresh_from_db()
    assert tea.refunded_quantity == 0


def test_a_refund_wechat_refuses_is_closed_a_busy_one_retried_by_the_beat(
    two_line_order, wechat_sim, django_capture_on_commit_callbacks
):
    # given
    order, (tea, cup) = two_line_order
    wechat_sim.inject_error("/secapi/pay/refund", 1, errmsg="PARAM_ERROR")
    wechat_sim.inject_error("/secapi/pay/refund", 1, errmsg="SYSTEMERROR")
    # when
    with django_capture_on_commit_callbacks(execute=True):
        refused = refund_request(
            order_id=order.pk,
            lines=[RefundLineInput(order_line_id=tea.pk, quantity=1)],
            reason="",
            requested_by="admin:boss",
            restock=False,
        )
    with django_capture_on_commit_callbacks(execute=True):
        busy = refund_request(
            order_id=order.pk,
            lines=[RefundLineInput(order_line_id=cup.pk, quantity=1)],
            reason="",
            requested_by="admin:boss",
            restock=False,
        )
    refused.refresh_from_db()
    busy.refresh_from_db()
    assert (refused.status, refused.last_error[:11]) == ("closed", "PARAM_ERROR")
    assert (busy.status, busy.last_error[:11]) == ("pending", "SYSTEMERROR")
    # the beat submits the pending one; a second run settles it by refundquery
    refunds_sync(older_than_seconds=0)
    refunds_sync(older_than_seconds=0)
    busy.refresh_from_db()
    assert busy.status == "success"


def test_refund_notification_posted_in_process_settles_once_and_forgeries_fail(
    two_line_order, wechat_sim, api_client, django_capture_on_commit_callbacks, caplog
):
    # given: a refund WeChat has finished; its notification body, as WeChat encrypts it
    from wechat_sim.pay_sign import encrypt_req_info, to_xml

    order, (tea, _) = two_line_order
    with django_capture_on_commit_callbacks(execute=True):
        refund = refund_request(
            order_id=order.pk,
            lines=[RefundLineInput(order_line_id=tea.pk, quantity=1)],
            reason="",
            requested_by="admin:boss",
            restock=False,
        )
    root = {
        "out_refund_no": refund.out_refund_no,
        "refund_id": "503000000001",
        "refund_fee": refund.amount_fen,
        "refund_status": "SUCCESS",
        "success_time": "2026-01-02 10:00:00",
    }
    outer = {"return_code": "SUCCESS", "appid": "wx0000000000000001", "mch_id": "1900000109"}

    def body(fields, key="simapikey0000000000000000000000k"):
        return to_xml(outer | {"req_info": encrypt_req_info(fields, key)}).encode()

    def post(raw):
        return api_client.post(REFUND_NOTIFY, data=raw, content_type="text/xml")

    # when
    forged = post(body(root, key="k" * 32))
    wrong = post(body(root | {"refund_fee": refund.amount_fen + 1}))
    unknown = post(body(root | {"out_refund_no": "R-NOPE"}))
    garbage = post(b"<xml><req_info>!!!</req_info></xml>")
    genuine = [post(body(root)) for _ in range(3)]
    # then
    for answer in (forged, wrong, unknown, garbage):
        assert b"FAIL" in answer.content
    assert [a.content for a in genuine] == [wechat.SUCCESS_XML] * 3
    refund.refresh_from_db()
    assert (refund.status, refund.wechat_refund_id) == ("success", "503000000001")
    assert str(refund.succeeded_at.astimezone(wechat.SHANGHAI)) == "2026-01-02 10:00:00+08:00"
    assert LedgerEntry.objects.filter(refund=refund).count() == 1
    assert "refund_fee" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_partial_refunds_racing_never_exceed_what_was_paid(shopper, wechat_sim, sim_pay):
    # given: a paid order of 3 teas and 4 cups
    wechat_sim.control("POST", "faults", json={"refund_delay_s": 0})
    tea, cup = SkuFactory(price_fen=1999, stock=50), SkuFactory(price_fen=333, stock=50)
    order = place_order(shopper.member, [(tea, 3), (cup, 4)])
    pay_and_settle(shopper, order, sim_pay)
    tea_line, cup_line = order.lines.order_by("id")
    asks = [(tea_line.pk, 2)] * 2 + [(cup_line.pk, 1)] * 6
    start = threading.Barrier(len(asks))

    def ask(line_and_qty):
        line_id, qty = line_and_qty
        start.wait()
        try:
            return refund_request(
                order_id=order.pk,
                lines=[RefundLineInput(order_line_id=line_id, quantity=qty)],
                reason="并发",
                requested_by="admin:boss",
                restock=True,
            )
        except RefundExceedsPaid:
            return None
        finally:
            connection.close()

    # when
    with ThreadPoolExecutor(max_workers=len(asks)) as pool:
        results = list(pool.map(ask, asks))
    for refund in [r for r in results if r]:
        refund_query_sync(refund_id=refund.pk)
    # then: one of the two 2-tea refunds, four of the six 1-cup refunds
    granted = [r for r in results if r]
    assert sorted(r.lines.get().quantity for r in granted) == [1, 1, 1, 1, 2]
    refunded = {
        line.pk: (line.refunded_quantity, line.refunded_fen) for line in OrderLine.objects.all()
    }
    assert refunded[cup_line.pk] == (4, cup_line.paid_fen)
    assert refunded[tea_line.pk] == (2, mul_div_round_half_up(tea_line.paid_fen, 2, 3))
    assert RefundLine.objects.filter(order_line=tea_line).count() == 1
    total = sum(r.amount_fen for r in Refund.objects.filter(order=order))
    assert total <= order.payable_fen
    trade = wechat_sim.control("GET", "trades")["results"][0]
    assert trade["refunded_fee"] == total
    assert Sku.objects.get(pk=cup.pk).stock == 50
    assert Sku.objects.get(pk=tea.pk).stock == 49


@pytest.mark.django_db(transaction=True)
def test_a_full_refund_notified_three_times_settles_once_and_restocks_once(
    shopper, sku, callbacks, sim_pay, sim_quiet, wechat_sim
):
    # given: a paid order
    order = place_order(shopper.member, [(sku, 2)])
    sim_pay(shopper.pay(order))
    wait_until(lambda: Order.objects.get(pk=order.pk).status == "paid")
    wechat_sim.control("POST", "faults", json={"duplicate": 2, "reorder": True})
    # when: the merchant refunds everything, the goods came back
    refund = refund_request(
        order_id=order.pk, lines=None, reason="退货", requested_by="admin:boss", restock=True
    )
    sim_quiet()
    # then
    refund.refresh_from_db()
    order.refresh_from_db()
    assert (refund.status, order.status) == ("success", "closed")
    sent = wechat_sim.control("GET", "notifications", params={"kind": "refund"})["results"]
    assert len(sent) == 3
    assert all(n["answered_success"] for n in sent)
    assert wechat_ledger(order) == [("wechat_payment", "in", 3998), ("wechat_refund", "out", 3998)]
    assert StockLog.objects.filter(reference=refund.out_refund_no).count() == 1
    sku.refresh_from_db()
    assert sku.stock == 1000
