"""拼团 end to end through the WeChat simulator: paid orders wait for the group, formed groups
ship and message every member, failed groups are refunded automatically, each member once,
even when a late joiner's payment races the expiry."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from uuid import uuid4

import pytest
from django.db import connection
from django.utils import timezone

from catalog.models import Sku
from catalog.tests.factories import SkuFactory
from mall.errors import OrderStatusInvalid
from marketing.models import Group, GroupMember
from marketing.tests.test_group_buy import campaign_new, group_order
from members.models import Member
from orders.services import order_ship
from payments.models import LedgerEntry, PaymentAttempt, Refund
from payments.services import (
    group_buy_expire,
    group_buys_expire,
    payment_attempt_query,
    refund_query_sync,
    refunds_sync,
)
from payments.tasks import group_buys_expire_task
from payments.tests.conftest import Shopper, pay_and_settle, refund_and_settle, wechat_ledger

pytestmark = pytest.mark.django_db


@pytest.fixture
def new_shopper(member_login):
    def make() -> Shopper:
        member_id, client = member_login(f"o-group-{uuid4().hex[:8]}")
        return Shopper(member=Member.objects.get(pk=member_id), client=client)

    return make


def _refunds_settle() -> None:
    """No live server: WeChat's refund notifications go nowhere; refundquery settles them."""
    for refund_id in Refund.objects.filter(status__in=Refund.IN_FLIGHT_STATUSES).values_list(
        "pk", flat=True
    ):
        refund_query_sync(refund_id=refund_id)


def test_a_full_group_forms_ships_and_messages_every_member(
    new_shopper, wechat_sim, sim_pay, django_capture_on_commit_callbacks
):
    # given: a group of 3; the leader opens it by paying
    campaign = campaign_new(size=3, sku=SkuFactory(price_fen=1999, stock=10))
    leader, friend, third = new_shopper(), new_shopper(), new_shopper()
    leader_order = group_order(
        leader.member, kind="group_open", target_id=campaign.pk, sku_id=campaign.sku_id
    )
    assert leader_order.payable_fen == 999
    with django_capture_on_commit_callbacks(execute=True):
        pay_and_settle(leader, leader_order, sim_pay)
    group = Group.objects.get(members__order_id=leader_order.pk)
    assert group.status == "forming"
    # a paid group order waits: it cannot ship before its group forms
    with pytest.raises(OrderStatusInvalid):
        order_ship(order_id=leader_order.pk, carrier="顺丰", tracking_no="SF1", actor="admin:a")
    detail = leader.client.get(f"/api/v1/orders/{leader_order.no}").json()
    assert (detail["status"], detail["group_status"]) == ("paid", "forming")
    # when: two friends join by the share link and pay
    orders = [leader_order]
    for shopper in (friend, third):
        order = group_order(
            shopper.member, kind="group_join", target_id=group.pk, sku_id=campaign.sku_id
        )
        with django_capture_on_commit_callbacks(execute=True):
            pay_and_settle(shopper, order, sim_pay)
        orders.append(order)
    # then
    group.refresh_from_db()
    assert (group.status, group.seats_paid, group.virtual_seats) == ("formed", 3, 0)
    assert group.formed_at is not None
    for shopper, order in zip((leader, friend, third), orders, strict=True):
        template_ids = [m["template_id"] for m in wechat_sim.messages(shopper.member.openid)]
        assert template_ids.count("tmpl-group-formed") == 1
        assert shopper.client.get(f"/api/v1/orders/{order.no}").json()["group_status"] == "formed"
    shipped = order_ship(
        order_id=leader_order.pk, carrier="顺丰", tracking_no="SF1", actor="admin:a"
    )
    assert shipped.status == "shipped"
    assert Sku.objects.get(pk=campaign.sku_id).stock == 7


def test_an_expired_group_refunds_every_paid_member_once(
    new_shopper, wechat_sim, sim_pay, instant_refunds, django_capture_on_commit_callbacks
):
    # given: a group of 3 — the leader and a friend paid, a third holds a seat unpaid
    sku = SkuFactory(price_fen=1999, stock=10)
    campaign = campaign_new(size=3, sku=sku)
    leader, friend, late = new_shopper(), new_shopper(), new_shopper()
    leader_order = group_order(
        leader.member, kind="group_open", target_id=campaign.pk, sku_id=sku.pk
    )
    pay_and_settle(leader, leader_order, sim_pay)
    group = Group.objects.get(members__order_id=leader_order.pk)
    friend_order = group_order(friend.member, kind="group_join", target_id=group.pk, sku_id=sku.pk)
    pay_and_settle(friend, friend_order, sim_pay)
    late_order = group_order(late.member, kind="group_join", target_id=group.pk, sku_id=sku.pk)
    assert Sku.objects.get(pk=sku.pk).stock == 7
    # when: the deadline passes; the countdown task and the beat sweep both run
    after = group.expires_at + timedelta(seconds=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert group_buy_expire(group_id=group.pk, now=after) == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert group_buys_expire(now=after)["groups"] == 0
        group_buy_expire(group_id=group.pk, now=after)
    _refunds_settle()
    # then: two full refunds, one each, through WeChat, stock back
    group.refresh_from_db()
    assert group.status == "failed"
    refunds = list(Refund.objects.order_by("order_id").values_list("order_id", "out_refund_no"))
    assert refunds == [
        (leader_order.pk, f"G{leader_order.no}"),
        (friend_order.pk, f"G{friend_order.no}"),
    ]
    for order in (leader_order, friend_order):
        assert wechat_ledger(order) == [
            ("wechat_payment", "in", 999),
            ("wechat_refund", "out", 999),
        ]
        order.refresh_from_db()
        assert order.status == "closed"
    assert set(GroupMember.objects.filter(group=group).values_list("status", flat=True)) == {
        "refunded",
        "held",
    }
    assert Sku.objects.get(pk=sku.pk).stock == 9  # the unpaid seat's unit stays reserved
    # when: the late joiner pays after all — a payment is never dropped
    with django_capture_on_commit_callbacks(execute=True):
        pay_and_settle(late, late_order, sim_pay)
    _refunds_settle()
    # then
    late_order.refresh_from_db()
    assert late_order.status == "closed"
    assert wechat_ledger(late_order) == [
        ("wechat_payment", "in", 999),
        ("wechat_refund", "out", 999),
    ]
    assert Refund.objects.count() == 3
    assert Sku.objects.get(pk=sku.pk).stock == 10


def test_virtual_members_complete_an_expired_group_when_the_campaign_says_so(new_shopper, sim_pay):
    campaign = campaign_new(size=3, auto_complete_with_virtual=True)
    leader = new_shopper()
    order = group_order(
        leader.member, kind="group_open", target_id=campaign.pk, sku_id=campaign.sku_id
    )
    pay_and_settle(leader, order, sim_pay)
    group = Group.objects.get(members__order_id=order.pk)
    # when
    assert group_buy_expire(group_id=group.pk, now=group.expires_at + timedelta(seconds=1)) == 0
    # then
    group.refresh_from_db()
    assert (group.status, group.seats_paid, group.virtual_seats) == ("formed", 1, 2)
    assert not Refund.objects.exists()
    assert order_ship(order_id=order.pk, carrier="顺丰", tracking_no="SF9", actor="admin:a")


@pytest.mark.django_db(transaction=True)
def test_expiry_racing_late_joiners_payments_refunds_each_paid_member_once(
    new_shopper, wechat_sim, sim_pay, instant_refunds
):
    # given: groups of 4 — leader and a friend paid; a late joiner paid at WeChat, its
    # notification lost: its settlement (orderquery) races the group's expiry
    rounds = 4
    sku = SkuFactory(price_fen=1999, stock=100)
    campaign = campaign_new(size=4, sku=sku)
    cases = []
    for _ in range(rounds):
        leader, friend, late = new_shopper(), new_shopper(), new_shopper()
        leader_order = group_order(
            leader.member, kind="group_open", target_id=campaign.pk, sku_id=sku.pk
        )
        pay_and_settle(leader, leader_order, sim_pay)
        group = Group.objects.get(members__order_id=leader_order.pk)
        friend_order = group_order(
            friend.member, kind="group_join", target_id=group.pk, sku_id=sku.pk
        )
        pay_and_settle(friend, friend_order, sim_pay)
        late_order = group_order(late.member, kind="group_join", target_id=group.pk, sku_id=sku.pk)
        sim_pay(late.pay(late_order))  # paid at WeChat; we do not know yet
        attempt = PaymentAttempt.objects.get(order=late_order)
        cases.append((group, attempt, [leader_order, friend_order, late_order]))

    # when
    def race(case, expiry_delay: float) -> None:
        group, attempt, _ = case
        Group.objects.filter(pk=group.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        barrier = threading.Barrier(3)

        def settle() -> None:
            barrier.wait()
            payment_attempt_query(attempt_id=attempt.pk)
            connection.close()

        def expire() -> None:
            barrier.wait()
            time.sleep(expiry_delay)
            group_buy_expire(group_id=group.pk)
            connection.close()

        def sweep() -> None:
            barrier.wait()
            time.sleep(expiry_delay)
            group_buys_expire_task()  # the beat's job, run in this thread
            connection.close()

        with ThreadPoolExecutor(max_workers=3) as pool:
            for future in [pool.submit(settle), pool.submit(expire), pool.submit(sweep)]:
                future.result()

    # the expiry starting at once, or once the payment is (probably) in: both orders happen
    for case, expiry_delay in zip(cases, (0.0, 0.0, 0.2, 0.5), strict=True):
        race(case, expiry_delay)
    group_buys_expire()  # the beat's next run: nothing left to do
    refunds_sync(older_than_seconds=0)
    _refunds_settle()

    # then: every paid order refunded exactly once, in full, through WeChat
    for group, _, orders in cases:
        group.refresh_from_db()
        assert group.status == "failed"
        for order in orders:
            order.refresh_from_db()
            assert order.status == "closed", order.no
            assert list(
                Refund.objects.filter(order=order).values_list("out_refund_no", "status")
            ) == [(f"G{order.no}", "success")]
            assert wechat_ledger(order) == [
                ("wechat_payment", "in", 999),
                ("wechat_refund", "out", 999),
            ]
    assert LedgerEntry.objects.filter(kind="wechat_refund").count() == 3 * rounds
    assert Sku.objects.get(pk=sku.pk).stock == 100


def test_a_refunded_member_of_a_forming_group_frees_the_seat(
    new_shopper, sim_pay, instant_refunds, django_capture_on_commit_callbacks
):
    # given: a group of 3, forming, with its leader and a friend paid
    campaign = campaign_new(size=3)
    leader, friend = new_shopper(), new_shopper()
    leader_order = group_order(
        leader.member, kind="group_open", target_id=campaign.pk, sku_id=campaign.sku_id
    )
    pay_and_settle(leader, leader_order, sim_pay)
    group = Group.objects.get(members__order_id=leader_order.pk)
    friend_order = group_order(
        friend.member, kind="group_join", target_id=group.pk, sku_id=campaign.sku_id
    )
    pay_and_settle(friend, friend_order, sim_pay)
    # when: the merchant refunds the friend in full (an after-sale)
    refund_and_settle(
        django_capture_on_commit_callbacks,
        order_id=friend_order.pk,
        lines=None,
        reason="不想要了",
        requested_by="admin:boss",
        restock=True,
    )
    # then
    group.refresh_from_db()
    assert (group.status, group.seats_taken, group.seats_paid) == ("forming", 1, 1)
    assert GroupMember.objects.get(order_id=friend_order.pk).status == "refunded"
    assert group_buy_expire(group_id=group.pk, now=group.expires_at) == 1  # only the leader
