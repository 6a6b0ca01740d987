"""Points: earn → vest → spend → refund → expire, with Σ ledger == balance == Σ vested lots after
every step; FIFO by expiry; a spend's refund gives the same lots back, once; reversal after
vesting never below zero; 20 concurrent spends never overdraw; the expiry notice once per lot."""
# ruff: noqa: F811 (pytest fixtures imported from the payments tests)

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import timedelta
from uuid import uuid4

import pytest
from django.db import connection
from django.utils import timezone

from catalog.tests.factories import SkuFactory
from mall.errors import PointsAdjustInvalid, PointsInsufficient
from members.models import Member, PointsLedger, PointsLot, SubscribeMessage
from members.points import (
    points_adjust,
    points_balance_matches_ledger,
    points_earn,
    points_expire_due,
    points_expiry_notify_due,
    points_refund,
    points_spend,
)
from members.tasks import points_expire_task
from members.tests.factories import MemberFactory
from orders.models import Order
from orders.pricing import CheckoutRequest, DeliveryChoice, LineInput
from orders.selectors import checkout_quote
from orders.services import order_cancel, order_complete, order_create, order_receive, order_ship
from orders.tests.factories import AddressFactory
from payments.tests.conftest import (  # noqa: F401 (fixtures)
    instant_refunds,
    pay_and_settle,
    place_order,
    refund_and_settle,
    shopper,
    sim_pay,
)
from shop.tasks import points_vest_task

pytestmark = pytest.mark.django_db


def balance(member) -> int:
    return Member.objects.values_list("points_balance", flat=True).get(pk=member.pk)


def assert_consistent(member) -> None:
    assert points_balance_matches_ledger(member_id=member.pk)
    assert balance(member) >= 0


def complete(order: Order) -> None:
    """Ship, receive, and complete the order past its after-sales window (the services)."""
    order_ship(order_id=order.pk, carrier="SF", tracking_no=f"SF{order.pk}", actor="admin:t")
    order_receive(order_id=order.pk, actor="member")
    assert order_complete(order_id=order.pk, now=timezone.now() + timedelta(days=30))


def test_order_points_earn_vest_spend_refund_expire(shopper, sim_pay, settings):
    # given: POINTS_PER_YUAN_PAID=2, a 150-yuan order paid through the simulator
    settings.POINTS_PER_YUAN_PAID = 2
    member = shopper.member
    order = place_order(member, [(SkuFactory(price_fen=15000, stock=5), 1)])
    pay_and_settle(shopper, order, sim_pay)
    lot = PointsLot.objects.get(source_key=f"order:{order.no}")
    assert (lot.status, lot.points, balance(member)) == ("pending", 300, 0)
    # when: the beat runs before the window has passed → nothing; after → vested
    assert points_vest_task() == 0
    complete(order)
    assert points_vest_task() == 1
    assert points_vest_task() == 0  # safe twice
    # then
    assert balance(member) == 300
    assert_consistent(member)
    # when: spend 120, refund that spend twice
    points_spend(member_id=member.pk, points=120, reference="order:SPEND1")
    points_spend(member_id=member.pk, points=120, reference="order:SPEND1")  # replay
    assert balance(member) == 180
    assert_consistent(member)
    assert points_refund(member_id=member.pk, reference="order:SPEND1") == 120
    assert points_refund(member_id=member.pk, reference="order:SPEND1") == 0
    assert balance(member) == 300
    assert_consistent(member)
    # when: a year later the lot expires (twice: once)
    later = timezone.now() + timedelta(days=settings.POINTS_EXPIRE_DAYS + 1)
    assert points_expire_due(now=later) == 300
    assert points_expire_due(now=later) == 0
    # then
    assert balance(member) == 0
    assert_consistent(member)
    kinds = list(
        PointsLedger.objects.filter(member=member).order_by("id").values_list("kind", "points")
    )
    assert kinds == [("vest", 300), ("spend", -120), ("refund", 120), ("expire", -300)]


def test_a_refund_after_vesting_reverses_at_most_the_balance(
    shopper, sim_pay, instant_refunds, django_capture_on_commit_callbacks
):
    # given: 200 points vested from a 200-yuan order, 150 of them spent since
    member = shopper.member
    order = place_order(member, [(SkuFactory(price_fen=20000, stock=5), 1)])
    pay_and_settle(shopper, order, sim_pay)
    complete(order)
    points_vest_task()
    points_spend(member_id=member.pk, points=150, reference="order:OTHER")
    # when: the completed order is refunded in full (after-sales)
    refund = refund_and_settle(
        django_capture_on_commit_callbacks,
        order_id=order.pk,
        lines=None,
        reason="质量问题",
        requested_by="admin:boss",
        restock=False,
    )
    # then: 50 left to take of 200; the balance stops at 0 and the shortfall is noted
    assert refund.status == "success"
    assert balance(member) == 0
    reverse = PointsLedger.objects.get(kind="reverse", reference=refund.out_refund_no)
    assert reverse.points == -50
    assert "可用积分不足" in reverse.note
    assert_consistent(member)


def test_spend_takes_the_earliest_expiry_first_and_its_refund_the_same_lots_back():
    # given: three lots earned on different days (expiring in that order)
    member = MemberFactory()
    now = timezone.now()
    for days_ago, points, key in ((100, 30, "a"), (10, 50, "b"), (50, 40, "c")):
        points_earn(
            member_id=member.pk,
            points=points,
            source_key=f"test:{key}",
            now=now - timedelta(days=days_ago),
        )
    # when
    points_spend(member_id=member.pk, points=60, reference="order:FIFO")
    # then: a (oldest) emptied, c (next) 30 taken, b untouched
    left = dict(PointsLot.objects.filter(member=member).values_list("source_key", "remaining"))
    assert left == {"test:a": 0, "test:c": 10, "test:b": 50}
    assert_consistent(member)
    # when: the spend is refunded
    points_refund(member_id=member.pk, reference="order:FIFO")
    left = dict(PointsLot.objects.filter(member=member).values_list("source_key", "remaining"))
    assert left == {"test:a": 30, "test:c": 40, "test:b": 50}
    assert_consistent(member)


def test_spending_more_than_the_balance_takes_nothing():
    member = MemberFactory()
    points_earn(member_id=member.pk, points=10, source_key="test:x")
    with pytest.raises(PointsInsufficient):
        points_spend(member_id=member.pk, points=11, reference="order:BIG")
    assert balance(member) == 10
    assert not PointsLedger.objects.filter(kind="spend").exists()


def test_checkout_with_points_and_cancel_gives_them_back_once():
    # given: 1000 points; a 100-yuan order paying 5 yuan with 500 points (100 points = 1 yuan)
    member = MemberFactory()
    points_earn(member_id=member.pk, points=1000, source_key="test:gift")
    address = AddressFactory(member=member)
    checkout = CheckoutRequest(
        delivery=DeliveryChoice(address_id=address.pk),
        lines=(LineInput(sku_id=SkuFactory(price_fen=10000, stock=5).pk, quantity=1),),
        points=500,
    )
    member.refresh_from_db()  # the points it has now
    _, quote = checkout_quote(member=member, checkout=checkout, now=timezone.now())
    order, _ = order_create(
        member=member,
        client_token=uuid4().hex,
        checkout=checkout,
        expected_payable_fen=quote.payable_fen,
    )
    assert (order.points_used, order.points_fen) == (500, 500)
    assert balance(member) == 500
    # when
    order_cancel(order_id=order.pk, actor="member")
    order_cancel(order_id=order.pk, actor="member")
    # then
    assert balance(member) == 1000
    assert PointsLedger.objects.filter(kind="refund", reference=f"order:{order.no}").count() == 1
    assert_consistent(member)


def test_a_full_refund_of_a_paid_order_gives_the_spent_points_back(
    shopper, sim_pay, instant_refunds, django_capture_on_commit_callbacks
):
    # given: a paid order that used 300 points
    member = shopper.member
    points_earn(member_id=member.pk, points=300, source_key="test:gift")
    address = AddressFactory(member=member)
    checkout = CheckoutRequest(
        delivery=DeliveryChoice(address_id=address.pk),
        lines=(LineInput(sku_id=SkuFactory(price_fen=5000, stock=5).pk, quantity=1),),
        points=300,
    )
    member.refresh_from_db()  # the points it has now
    _, quote = checkout_quote(member=member, checkout=checkout, now=timezone.now())
    order, _ = order_create(
        member=member,
        client_token=uuid4().hex,
        checkout=checkout,
        expected_payable_fen=quote.payable_fen,
    )
    pay_and_settle(shopper, order, sim_pay)
    assert balance(member) == 0
    # when
    refund_and_settle(
        django_capture_on_commit_callbacks,
        order_id=order.pk,
        lines=None,
        reason="不要了",
        requested_by="admin:boss",
        restock=True,
    )
    # then: the 300 spent come back; the order's own 47 pending points are cancelled
    assert balance(member) == 300
    assert PointsLot.objects.get(source_key=f"order:{order.no}").status == "cancelled"
    assert_consistent(member)


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_spends_never_overdraw():
    # given: 100 points in two lots; 20 spends of 10 at once
    member = MemberFactory()
    points_earn(member_id=member.pk, points=60, source_key="test:one")
    points_earn(member_id=member.pk, points=40, source_key="test:two")
    start = threading.Barrier(20)
    done = []

    def spend(i: int) -> None:
        start.wait()
        try:
            with suppress(PointsInsufficient):
                points_spend(member_id=member.pk, points=10, reference=f"order:R{i}")
                done.append(i)
        finally:
            connection.close()

    # when
    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(spend, range(20)))
    # then
    assert len(done) == 10
    assert balance(member) == 0
    assert PointsLot.objects.filter(member=member, remaining__gt=0).count() == 0
    assert_consistent(member)


def test_expiry_notice_once_per_lot_then_expiry_by_the_beat(
    wechat_sim, member_login, settings, django_capture_on_commit_callbacks
):
    # given: lots expiring in 3 and 4 days (notice 7 days before), another in a year
    member = Member.objects.get(pk=member_login("o-expiring")[0])  # WeChat knows this openid
    now = timezone.now()
    expiring = now - timedelta(days=settings.POINTS_EXPIRE_DAYS - 3)
    points_earn(member_id=member.pk, points=20, source_key="test:soon", now=expiring)
    points_earn(
        member_id=member.pk, points=5, source_key="test:soon2", now=expiring + timedelta(days=1)
    )
    points_earn(member_id=member.pk, points=5, source_key="test:later", now=now)
    # when: the notice runs twice
    with django_capture_on_commit_callbacks(execute=True):
        assert points_expiry_notify_due(now=now) == 1
    assert points_expiry_notify_due(now=now) == 0
    # then: one message for both lots
    message = SubscribeMessage.objects.get(member=member)
    assert message.template_key == "points_expiring"
    assert message.data["number1"]["value"] == "25"
    [received] = wechat_sim.messages(touser=member.openid)
    assert received["template_id"] == settings.WECHAT_TEMPLATES["points_expiring"]
    # when: the beat task runs (nothing expired yet), then 5 days later
    assert points_expire_task() == {"expired": 0, "notified": 0}
    assert points_expire_due(now=now + timedelta(days=5)) == 25
    assert balance(member) == 5
    assert_consistent(member)


def test_manual_adjustment_needs_a_reason_and_never_overdraws():
    member = MemberFactory()
    entry = points_adjust(member_id=member.pk, points=80, reason="客诉补偿", operator="admin:a")
    assert (entry.kind, entry.points, entry.balance_after, entry.note) == (
        "adjust",
        80,
        80,
        "客诉补偿",
    )
    points_adjust(member_id=member.pk, points=-30, reason="误发扣回", operator="admin:a")
    with pytest.raises(PointsAdjustInvalid):
        points_adjust(member_id=member.pk, points=-51, reason="太多", operator="admin:a")
    with pytest.raises(PointsAdjustInvalid):
        points_adjust(member_id=member.pk, points=5, reason="  ", operator="admin:a")
    assert balance(member) == 50
    assert_consistent(member)


def test_points_ledger_api_is_paginated_and_own(shopper, django_assert_max_num_queries):
    # given: 12 rows for the shopper, one for someone else
    for i in range(12):
        points_earn(member_id=shopper.member.pk, points=i + 1, source_key=f"test:{i}")
    points_earn(member_id=MemberFactory().pk, points=5, source_key="test:other")
    # when
    with django_assert_max_num_queries(4):
        answer = shopper.client.get("/api/v1/points/ledger?page_size=10")
    # then
    body = answer.json()
    assert (answer.status_code, body["count"], len(body["results"])) == (200, 12, 10)
    assert body["results"][0]["points"] == 12
    assert body["results"][0]["kind_display"] == "获得"


def test_a_balance_from_before_lots_is_adopted_by_an_opening_lot():
    # given: 500 points written straight to the column (the first version had no lots)
    member = MemberFactory(points_balance=500)
    # when
    points_spend(member_id=member.pk, points=200, reference="order:LEGACY")
    points_refund(member_id=member.pk, reference="order:LEGACY")
    # then
    opening = PointsLot.objects.get(member=member, source_key__startswith="opening:")
    assert (opening.points, opening.remaining, balance(member)) == (500, 500, 500)
    assert_consistent(member)
