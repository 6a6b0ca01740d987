"""Stored value (储值): checkout with balance, pay fully by balance, cancel gives it back once,
and concurrent spends never overdraw."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from uuid import uuid4

import pytest
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from catalog.tests.factories import SkuFactory
from mall.errors import BalanceInsufficient, RefundExceedsPaid
from members.models import Member
from members.stored_value import stored_value_credit, stored_value_debit
from members.tests.factories import MemberFactory
from orders.models import Order, OrderStatus
from orders.pricing import CheckoutRequest, DeliveryChoice, LineInput
from orders.services import order_cancel, order_close_if_unpaid, order_create
from orders.tests.factories import AddressFactory
from payments.models import LedgerEntry, PaymentAttempt
from payments.services import RefundLineInput, ledger_record, order_pay, refund_request
from payments.tests.conftest import pay_and_settle, refund_and_settle


def top_up(member: Member, amount_fen: int) -> None:
    """What a top-up does to the balance and the ledger (top-ups themselves come later)."""
    with transaction.atomic():
        stored_value_credit(member_id=member.pk, amount_fen=amount_fen, reference="test")
        ledger_record(
            kind=LedgerEntry.Kind.BALANCE_TOP_UP,
            direction=LedgerEntry.Direction.IN,
            channel=LedgerEntry.Channel.BALANCE,
            amount_fen=amount_fen,
            external_key=f"balance:top_up:{uuid4().hex}",
            occurred_at=timezone.now(),
            member_id=member.pk,
        )


def place_order_with_balance(member: Member, sku, *, balance_fen: int, qty: int = 1) -> Order:
    address = AddressFactory(member=member)
    checkout = CheckoutRequest(
        delivery=DeliveryChoice(address_id=address.pk),
        lines=(LineInput(sku_id=sku.pk, quantity=qty),),
        balance_fen=balance_fen,
    )
    order, _ = order_create(
        member=member,
        client_token=uuid4().hex,
        checkout=checkout,
        expected_payable_fen=sku.price_fen * qty,
    )
    return order


def balance_of(member: Member) -> int:
    return Member.objects.values_list("balance_fen", flat=True).get(pk=member.pk)


def assert_ledger_matches_balance(member: Member) -> None:
    """Σ in − Σ out of the member's balance ledger = the balance + what unpaid orders hold."""
    rows = LedgerEntry.objects.filter(member=member, channel=LedgerEntry.Channel.BALANCE)
    sums = {
        d: rows.filter(direction=d).aggregate(s=Sum("amount_fen"))["s"] or 0
        for d in (LedgerEntry.Direction.IN, LedgerEntry.Direction.OUT)
    }
    held = (
        Order.objects.filter(member=member, status=OrderStatus.PENDING_PAYMENT).aggregate(
            s=Sum("balance_fen")
        )["s"]
        or 0
    )
    assert sums["in"] - sums["out"] == balance_of(member) + held


@pytest.mark.django_db
def test_a_debit_never_takes_the_balance_below_zero():
    # given
    member = MemberFactory(balance_fen=100)
    # when
    left = stored_value_debit(member_id=member.pk, amount_fen=60, reference="t1")
    with pytest.raises(BalanceInsufficient) as exc:
        stored_value_debit(member_id=member.pk, amount_fen=41, reference="t2")
    # then
    assert left == 40
    assert exc.value.code == "balance_insufficient"
    assert exc.value.status == 409
    assert balance_of(member) == 40


@pytest.mark.django_db
def test_balance_plus_wechat_order(shopper, wechat_sim, sim_pay):
    # given
    sku = SkuFactory(price_fen=1999, stock=10)
    top_up(shopper.member, 500)
    # when
    order = place_order_with_balance(shopper.member, sku, balance_fen=800)
    # then: capped by the balance, the rest by WeChat; the balance is held by the order
    assert (order.balance_fen, order.wechat_pay_fen, order.payable_fen) == (500, 1499, 1999)
    assert order.breakdown["balance_fen"] == 500
    assert balance_of(shopper.member) == 0
    assert_ledger_matches_balance(shopper.member)
    # when
    pay_and_settle(shopper, order, sim_pay)
    # then
    assert order.status == OrderStatus.PAID
    assert PaymentAttempt.objects.get(order=order).amount_fen == 1499
    spend = LedgerEntry.objects.get(order=order, channel="balance")
    assert (spend.kind, spend.direction, spend.amount_fen, spend.external_key) == (
        "balance_spend",
        "out",
        500,
        f"balance:spend:{order.no}",
    )
    assert_ledger_matches_balance(shopper.member)


@pytest.mark.django_db
def test_an_order_covered_by_balance_is_paid_without_wechat(shopper):
    # given
    sku = SkuFactory(price_fen=1999, stock=10)
    top_up(shopper.member, 5000)
    order = place_order_with_balance(shopper.member, sku, balance_fen=5000)
    assert (order.balance_fen, order.wechat_pay_fen) == (1999, 0)
    # when
    answer = shopper.pay(order)
    again = shopper.client.post(f"/api/v1/orders/{order.no}/pay")
    # then
    assert answer == {"paid": True}
    assert again.json()["code"] == "order_already_paid"
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert not PaymentAttempt.objects.filter(order=order).exists()
    assert LedgerEntry.objects.filter(order=order, kind="balance_spend").count() == 1
    assert balance_of(shopper.member) == 5000 - 1999
    assert_ledger_matches_balance(shopper.member)


@pytest.mark.django_db
def test_cancel_and_expiry_give_the_balance_back_once():
    # given
    member = MemberFactory()
    sku = SkuFactory(price_fen=1000, stock=10)
    top_up(member, 1500)
    cancelled = place_order_with_balance(member, sku, balance_fen=1000)
    expiring = place_order_with_balance(member, sku, balance_fen=1000)
    assert (cancelled.balance_fen, expiring.balance_fen, balance_of(member)) == (1000, 500, 0)
    # when
    order_cancel(order_id=cancelled.pk, actor="member:1")
    order_cancel(order_id=cancelled.pk, actor="member:1")  # a repeat: no-op
    order_close_if_unpaid(order_id=cancelled.pk, now=cancelled.expires_at)  # lost the race
    # then
    assert balance_of(member) == 1000
    # when
    late = expiring.expires_at
    assert order_close_if_unpaid(order_id=expiring.pk, now=late) is True
    assert order_close_if_unpaid(order_id=expiring.pk, now=late) is False
    # then
    assert balance_of(member) == 1500
    assert not LedgerEntry.objects.filter(kind="balance_spend").exists()
    assert_ledger_matches_balance(member)


@pytest.mark.django_db
def test_an_order_without_balance_leaves_it_alone():
    # given
    member = MemberFactory()
    top_up(member, 700)
    sku = SkuFactory(price_fen=1000, stock=10)
    # when
    order = place_order_with_balance(member, sku, balance_fen=0)
    # then
    assert (order.balance_fen, order.wechat_pay_fen, balance_of(member)) == (0, 1000, 700)


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_debits_never_overdraw():
    # given
    member = MemberFactory(balance_fen=1000)
    start = threading.Barrier(20)
    taken: list[int] = []

    def spend(i: int) -> None:
        start.wait()
        try:
            with suppress(BalanceInsufficient), transaction.atomic():
                stored_value_debit(member_id=member.pk, amount_fen=100, reference=f"r{i}")
                taken.append(i)
        finally:
            connection.close()

    # when
    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(spend, range(20)))
    # then
    assert (len(taken), balance_of(member)) == (10, 0)


@pytest.mark.django_db(transaction=True)
def test_twenty_orders_paid_with_the_same_balance_never_overdraw():
    # given: 1000 fen of balance, 20 orders of 100 fen each asking to use 100 fen of it
    member = MemberFactory()
    member_id = member.pk
    top_up(member, 1000)
    sku = SkuFactory(price_fen=100, stock=100)
    AddressFactory(member=member)
    start = threading.Barrier(20)

    def buy_and_pay(i: int) -> str:
        start.wait()
        try:
            order = place_order_with_balance(Member.objects.get(pk=member_id), sku, balance_fen=100)
            if order.wechat_pay_fen == 0:
                paid = order_pay(
                    member=Member.objects.get(pk=member_id),
                    order_no=order.no,
                    client_ip="127.0.0.1",
                )
                assert paid == {"paid": True}
            return order.no
        finally:
            connection.close()

    # when
    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(buy_and_pay, range(20)))
    # then
    orders = Order.objects.filter(member=member)
    assert orders.count() == 20
    assert orders.filter(balance_fen=100, status=OrderStatus.PAID).count() == 10
    assert orders.filter(balance_fen=0, wechat_pay_fen=100).count() == 10
    assert balance_of(member) == 0
    spent = LedgerEntry.objects.filter(member=member, kind="balance_spend")
    assert (spent.count(), spent.aggregate(s=Sum("amount_fen"))["s"]) == (10, 1000)
    assert_ledger_matches_balance(member)


@pytest.mark.django_db
def test_refunds_go_back_to_wechat_first_then_to_the_balance(
    shopper, wechat_sim, sim_pay, instant_refunds, django_capture_on_commit_callbacks
):
    # given: 2 × 1000, 500 of it from the balance, 1500 by WeChat
    sku = SkuFactory(price_fen=1000, stock=10)
    top_up(shopper.member, 500)
    order = place_order_with_balance(shopper.member, sku, balance_fen=500, qty=2)
    pay_and_settle(shopper, order, sim_pay)
    line = order.lines.get()
    # when: one unit, then the other
    first = refund_and_settle(
        django_capture_on_commit_callbacks,
        order_id=order.pk,
        lines=[RefundLineInput(order_line_id=line.pk, quantity=1)],
        reason="退一件",
        requested_by="admin:boss",
        restock=False,
    )
    second = refund_and_settle(
        django_capture_on_commit_callbacks,
        order_id=order.pk,
        lines=[RefundLineInput(order_line_id=line.pk, quantity=1)],
        reason="再退一件",
        requested_by="admin:boss",
        restock=False,
    )
    # then
    assert (first.status, first.wechat_fen, first.balance_fen) == ("success", 1000, 0)
    assert (second.status, second.wechat_fen, second.balance_fen) == ("success", 500, 500)
    assert balance_of(shopper.member) == 500
    back = LedgerEntry.objects.get(kind="balance_refund")
    assert (back.direction, back.amount_fen, back.external_key) == (
        "in",
        500,
        f"balance:refund:{second.out_refund_no}",
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.CLOSED
    assert_ledger_matches_balance(shopper.member)


@pytest.mark.django_db
def test_a_refund_of_an_order_paid_by_balance_needs_no_wechat(
    shopper, django_capture_on_commit_callbacks
):
    # given
    sku = SkuFactory(price_fen=1000, stock=10)
    top_up(shopper.member, 3000)
    order = place_order_with_balance(shopper.member, sku, balance_fen=3000, qty=2)
    assert shopper.pay(order) == {"paid": True}
    line = order.lines.get()
    # when
    with django_capture_on_commit_callbacks(execute=True):
        refund = refund_request(
            order_id=order.pk,
            lines=[RefundLineInput(order_line_id=line.pk, quantity=1)],
            reason="退一件",
            requested_by="admin:boss",
            restock=False,
        )
    with pytest.raises(RefundExceedsPaid):
        refund_request(
            order_id=order.pk,
            lines=[RefundLineInput(order_line_id=line.pk, quantity=2)],
            reason="多退",
            requested_by="admin:boss",
            restock=False,
        )
    # then
    refund.refresh_from_db()
    assert (refund.status, refund.wechat_fen, refund.balance_fen) == ("success", 0, 1000)
    assert balance_of(shopper.member) == 2000
    assert LedgerEntry.objects.filter(kind="balance_refund", refund=refund).count() == 1
    assert not LedgerEntry.objects.filter(channel="wechat").exists()
    assert_ledger_matches_balance(shopper.member)
