"""Chaos: 200 orders paid by 8 threads while WeChat duplicates, delays, reorders, drops and forges
notifications; some orders expire during payment; some are refunded partially twice in parallel.
Afterwards the books balance: reconciliation finds 0 differences and the ledger equals WeChat's
bill to the fen."""

import threading
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import pytest
import requests
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from catalog.models import Sku
from catalog.tests.factories import SkuFactory
from mall.errors import RefundExceedsPaid
from members.models import Member
from orders.models import Order
from orders.services import order_close_if_unpaid
from orders.tests.factories import AddressFactory
from payments import wechat
from payments.models import LedgerEntry, PaymentAttempt, Refund
from payments.services import (
    RefundLineInput,
    bill_parse,
    order_expire,
    payment_attempts_sync,
    refund_request,
    refunds_sync,
    wechat_bill_reconcile,
)
from payments.tests.conftest import place_order, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8
CHAOS_ORDERS_PER_THREAD = 22  # 176 orders under every fault at once
LOST_ORDERS_PER_THREAD = 3  # 24 orders whose notifications never arrive
QUANTITY = 3
PRICES = (1999, 501, 8800, 1, 33333)
CHAOS = {
    "duplicate": 1,
    "delay_s": 0.02,
    "drop": 0.25,
    "drop_attempts": 2,
    "reorder": True,
    "forge": 0.2,
    "wrong_amount": 0.1,
    "speed": 2000,
    "refund_delay_s": 0.05,
    "seed": 2026,
}


class Beat(threading.Thread):
    """Celery beat, compressed: the payment and refund safety nets every 0.3 s."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stopped = threading.Event()
        self.errors: list[BaseException] = []

    def run(self) -> None:
        try:
            while not self.stopped.wait(0.3):
                payment_attempts_sync(older_than_seconds=0)
                refunds_sync(older_than_seconds=0)
        except BaseException as exc:  # surfaced by the test
            self.errors.append(exc)
        finally:
            connection.close()


def test_chaos_books_balance(member_login, callbacks, wechat_sim, sim_quiet):
    # given: 8 shoppers, SKUs at awkward prices, WeChat misbehaving in every way at once
    skus = [SkuFactory(price_fen=price, stock=10_000) for price in PRICES]
    shoppers = []
    for n in range(THREADS):
        member_id, client = member_login(f"o-chaos-{n}-{uuid4().hex[:6]}")
        member = Member.objects.get(pk=member_id)
        shoppers.append((member, client, AddressFactory(member=member)))
    wechat_sim.control("POST", "faults", json=CHAOS)
    beat = Beat()
    beat.start()
    outcome: dict[str, str] = {}  # order no -> what happened to it on the shopper's side

    def pay_one(n: int, k: int, *, lost: bool) -> None:
        member, client, address = shoppers[n]
        order = place_order(member, [(skus[(n + k) % len(skus)], QUANTITY)], address=address)
        answer = client.post(f"/api/v1/orders/{order.no}/pay")
        assert answer.status_code == 200, answer.content
        request_payment = answer.json()["request_payment"]
        kind = (
            "lost"
            if lost
            else ("expired_before", "expired_after", "expired_query", *["paid"] * 7)[k % 10]
        )
        if kind == "expired_before":  # expiry runs before the shopper confirms: trade closed
            assert order_expire(order_id=order.pk, now=order.expires_at) is True
            late = requests.post(wechat_sim.base_url + "_sim/pay", json=request_payment, timeout=5)
            assert late.status_code == 400
        else:
            wechat_sim.control("POST", "pay", json=request_payment)
        if kind == "expired_after":  # expiry raced the payment: maybe cancelled, then refunded
            order_close_if_unpaid(order_id=order.pk, now=order.expires_at)
        if kind == "expired_query":  # expiry asks WeChat first: settled, not cancelled
            assert order_expire(order_id=order.pk, now=order.expires_at) is False
        if kind in ("paid", "lost") and k % 2:
            client.post(f"/api/v1/orders/{order.no}/pay/sync")
        outcome[order.no] = kind

    def shopper_run(n: int, count: int, *, lost: bool) -> None:
        try:
            for k in range(count):
                pay_one(n, k, lost=lost)
        finally:
            connection.close()

    def run_all(count: int, *, lost: bool) -> None:
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            list(pool.map(lambda n: shopper_run(n, count, lost=lost), range(THREADS)))

    # when: chaos, then a stretch where no notification gets through at all
    run_all(CHAOS_ORDERS_PER_THREAD, lost=False)
    wechat_sim.control("POST", "faults", json={"drop": 1.0, "drop_attempts": 100})
    run_all(LOST_ORDERS_PER_THREAD, lost=True)
    wechat_sim.control("POST", "faults", json={"drop": 0.25, "drop_attempts": 2})
    wait_until(
        lambda: _settled_here(wechat_sim), timeout=30, every=0.2, what="every WeChat payment here"
    )
    # and some orders are refunded partially, twice in parallel
    refundable = list(Order.objects.filter(status="paid").order_by("id")[:24])
    asks = [(order, 1 if i % 3 else 2) for i, order in enumerate(refundable) for _ in range(2)]
    start = threading.Barrier(len(asks))

    def ask(order_and_qty):
        order, qty = order_and_qty
        line = order.lines.get()
        start.wait()
        try:
            return refund_request(
                order_id=order.pk,
                lines=[RefundLineInput(order_line_id=line.pk, quantity=qty)],
                reason="并发部分退款",
                requested_by="admin:chaos",
                restock=True,
            )
        except RefundExceedsPaid:
            return None
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(asks)) as pool:
        granted = [r for r in pool.map(ask, asks) if r]
    wait_until(
        lambda: not Refund.objects.filter(status__in=Refund.IN_FLIGHT_STATUSES).exists(),
        timeout=30,
        every=0.2,
        what="every refund to finish",
    )
    beat.stopped.set()
    beat.join()
    wechat_sim.control("POST", "faults", json={"drop": 0.0})
    sim_quiet(timeout=30)

    # then: nothing broke, every fault happened
    assert not beat.errors, beat.errors
    assert len(outcome) == THREADS * (CHAOS_ORDERS_PER_THREAD + LOST_ORDERS_PER_THREAD) == 200
    sent = wechat_sim.control("GET", "notifications")["results"]
    variants = {n["variant"] for n in sent}
    assert {"genuine", "duplicate", "forged", "wrong_amount"} <= variants
    assert any(n["dropped"] for n in sent)
    sources = {e.note.rsplit("(", 1)[-1] for e in LedgerEntry.objects.filter(kind="wechat_payment")}
    assert sources == {"notify)", "query)"}

    # every order is in a state that balances
    for order in Order.objects.prefetch_related("ledger_entries", "payment_attempts"):
        money_in = sum(e.amount_fen for e in order.ledger_entries.all() if e.direction == "in")
        money_out = sum(e.amount_fen for e in order.ledger_entries.all() if e.direction == "out")
        paid_attempts = [a for a in order.payment_attempts.all() if a.status == "paid"]
        assert money_in == sum(a.amount_fen for a in paid_attempts), order.no
        kind = outcome[order.no]
        if kind == "expired_before":
            assert (order.status, money_in) == ("cancelled", 0)
        elif order.status == "cancelled":
            assert kind == "expired_after"
            assert money_out == money_in > 0  # the late payment went back, nothing was lost
        else:
            assert order.status in ("paid", "closed"), (order.no, order.status, kind)
            assert order.out_trade_no in {a.out_trade_no for a in paid_attempts}
            assert money_in - money_out == order.payable_fen - _refunded(order)
    # the parallel pairs: both 1-unit refunds granted, one of each 2-unit pair
    assert len(granted) == sum(2 if i % 3 else 1 for i in range(len(refundable)))
    # stock: every unit not in a paid-and-kept order came back
    for sku in skus:
        kept = sum(
            line.quantity - line.refunded_quantity
            for order in Order.objects.filter(status__in=["paid", "closed"], lines__sku=sku)
            for line in order.lines.all()
        )
        assert Sku.objects.get(pk=sku.pk).stock == 10_000 - kept

    # and the books balance with WeChat's bill, to the fen
    today = timezone.localdate()
    run = wechat_bill_reconcile(bill_date=today)
    assert (run.status, run.differences_count) == ("matched", 0), list(
        run.differences.values_list("kind", "out_trade_no", "out_refund_no", "detail")
    )
    bill = bill_parse(wechat.bill_download(today))
    ledger = LedgerEntry.objects.filter(channel="wechat")
    total_in = ledger.filter(direction="in").aggregate(s=Sum("amount_fen"))["s"]
    total_out = ledger.filter(direction="out").aggregate(s=Sum("amount_fen"))["s"]
    assert (total_in, total_out) == (bill.summary_settlement_fen, bill.summary_refund_fen)
    assert ledger.filter(kind="wechat_payment").count() == bill.summary_count - len(bill.refunds)


def _settled_here(wechat_sim) -> bool:
    """Every trade WeChat has as paid is a paid attempt here."""
    paid_there = {
        t["out_trade_no"]
        for t in wechat_sim.control("GET", "trades")["results"]
        if t["state"] in ("SUCCESS", "REFUND")
    }
    paid_here = set(
        PaymentAttempt.objects.filter(status="paid").values_list("out_trade_no", flat=True)
    )
    return (
        paid_there == paid_here
        and not Refund.objects.filter(status__in=Refund.IN_FLIGHT_STATUSES).exists()
    )


def _refunded(order: Order) -> int:
    return sum(line.refunded_fen for line in order.lines.all())
