"""A payment's effects in other apps (points, growth, coupon used …) follow the payment: once,
whoever gets there first (the follow-up task, the coalesced sweep, the beat's safety net, a
refund), never lost when the task is."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from celery.signals import after_task_publish
from django.db import connection
from django.utils import timezone

from catalog.tests.factories import SkuFactory
from mall import coalesce
from mall.celery import app as celery_app
from marketing.models import Coupon
from marketing.services.coupons import coupons_issue
from marketing.tests.coupon_factories import CouponTemplateFactory
from members.models import GrowthLog, Member, PointsLot, SubscribeMessage
from orders.models import Order
from payments import wechat
from payments.models import PaymentAttempt
from payments.services import paid_followups_sweep
from payments.services.paid_effects import order_paid_effects_apply
from payments.tests.conftest import notification_body, place_order, refund_and_settle, wait_until

NOTIFY = "/api/v1/payments/wechat/notify"


def _notify(api_client, order: Order) -> None:
    """WeChat's notification of the order's attempt, posted in-process."""
    attempt = PaymentAttempt.objects.get(order=order)
    body = notification_body(
        attempt.out_trade_no,
        transaction_id=f"4200000000000000000{attempt.pk:09d}",
        total_fee=attempt.amount_fen,
        time_end=timezone.localtime().strftime("%Y%m%d%H%M%S"),
    )
    answer = api_client.post(NOTIFY, data=body, content_type="text/xml")
    assert answer.content == wechat.SUCCESS_XML


def _paid_without_followup(shopper, order: Order, sim_pay) -> None:
    """The shopper pays through the simulator and pay/sync settles it; inside the test's
    transaction nothing runs on commit: the follow-up task is as good as lost."""
    sim_pay(shopper.pay(order))
    assert shopper.sync(order)["paid"] is True


@pytest.mark.django_db
def test_the_beat_sweep_runs_lost_followups_once(shopper, sku, wechat_sim, sim_pay):
    # given: a paid order whose follow-up task never ran
    order = place_order(shopper.member, [(sku, 2)])
    _paid_without_followup(shopper, order, sim_pay)
    order.refresh_from_db()
    assert (order.status, order.paid_effects_at) == ("paid", None)
    assert not PointsLot.objects.filter(member=shopper.member).exists()
    # when: the beat runs now (too early: the task may still come), then after the delay, twice
    early = paid_followups_sweep()
    later = timezone.now() + timedelta(seconds=61)
    first = paid_followups_sweep(now=later)
    second = paid_followups_sweep(now=later)
    # then: applied once, with its message
    assert early == {"due": 0, "applied": 0, "more": 0}
    assert first == {"due": 1, "applied": 1, "more": 0}
    assert second == {"due": 0, "applied": 0, "more": 0}
    order.refresh_from_db()
    assert order.paid_effects_at is not None
    assert PointsLot.objects.get(member=shopper.member).source_key == f"order:{order.no}"
    assert Member.objects.get(pk=shopper.member.pk).growth == order.payable_fen // 100
    assert (
        SubscribeMessage.objects.filter(member=shopper.member, dedup_key=f"paid:{order.no}").count()
        == 1
    )


@pytest.mark.django_db
def test_a_refund_before_the_followup_takes_back_only_what_it_gives_first(
    shopper, wechat_sim, sim_pay, instant_refunds, django_capture_on_commit_callbacks
):
    # given: an order with the member's coupon, paid; its follow-up has not run (coupon locked)
    sku = SkuFactory(price_fen=15000, stock=10)
    template = CouponTemplateFactory(name="满100减30")
    (coupon,) = coupons_issue(template_id=template.pk, member_ids=[shopper.member.pk])
    order = place_order(shopper.member, [(sku, 1)])
    assert f"coupon:{coupon.pk}" in {d["ref"] for d in order.breakdown["discounts"]}
    _paid_without_followup(shopper, order, sim_pay)
    coupon.refresh_from_db()
    assert coupon.status == Coupon.Status.LOCKED
    # when: refunded in full at once
    refund = refund_and_settle(
        django_capture_on_commit_callbacks,
        order_id=order.pk,
        lines=None,
        reason="不想要了",
        requested_by="admin:boss",
        restock=True,
    )
    # then: the effects were applied, then taken back: nothing is left over, nothing owed
    assert refund.status == "success"
    order.refresh_from_db()
    assert (order.status, order.paid_effects_at is not None) == ("closed", True)
    coupon.refresh_from_db()
    assert coupon.status == Coupon.Status.UNUSED
    member = Member.objects.get(pk=shopper.member.pk)
    assert member.growth == 0
    assert list(
        GrowthLog.objects.filter(member=member).order_by("id").values_list("kind", flat=True)
    ) == [
        "order_paid",
        "refund",
    ]
    assert PointsLot.objects.get(member=member).status == "cancelled"
    # and: the sweep finds nothing to apply later
    assert paid_followups_sweep(now=timezone.now() + timedelta(seconds=61))["due"] == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_apply_the_effects_once(shopper, sku, wechat_sim, api_client):
    # given: a paid order whose follow-up is due (queued to the broker, not run)
    order = place_order(shopper.member, [(sku, 2)])
    shopper.pay(order)
    celery_app.conf.task_always_eager = False
    try:
        _notify(api_client, order)
    finally:
        celery_app.conf.task_always_eager = True
        celery_app.control.purge()
    assert Order.objects.get(pk=order.pk).paid_effects_at is None
    start = threading.Barrier(8)

    def claim(_):
        start.wait()
        try:
            return order_paid_effects_apply(order_id=order.pk)
        finally:
            connection.close()

    # when
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(claim, range(8)))
    # then
    assert outcomes.count(True) == 1
    member = Member.objects.get(pk=shopper.member.pk)
    assert member.growth == order.payable_fen // 100
    assert GrowthLog.objects.filter(member=member).count() == 1
    assert PointsLot.objects.filter(member=member).count() == 1


@pytest.fixture
def real_worker(settings, monkeypatch, real_worker):
    settings.SUBSCRIBE_MESSAGE_RETRY_BASE_SECONDS = 0
    monkeypatch.setattr(coalesce, "_queued_at", {})  # no publish remembered from before


@pytest.mark.django_db(transaction=True)
def test_notifications_in_a_burst_are_followed_up_by_one_sweep_task(
    shopper, sku, wechat_sim, callbacks, sim_pay, real_worker
):
    # given: four orders; every task published is counted
    orders = [place_order(shopper.member, [(sku, 1)]) for _ in range(4)]
    answers = [shopper.pay(order) for order in orders]
    published: list[str] = []

    def count(sender=None, **kwargs):
        published.append(sender)

    after_task_publish.connect(count, weak=False)
    try:
        # when: the shopper pays them within a second; WeChat notifies the live server
        for answer in answers:
            sim_pay(answer)
        wait_until(
            lambda: Order.objects.filter(pk__in=[o.pk for o in orders], status="paid").count() == 4,
            what="the orders to be paid",
        )
        # then: a worker applies every order's effects and sends its message
        wait_until(
            lambda: (
                not Order.objects.filter(
                    pk__in=[o.pk for o in orders], paid_effects_at__isnull=True
                ).exists()
            ),
            what="the follow-ups",
        )
        wait_until(
            lambda: len(wechat_sim.messages(shopper.member.openid)) == 4,
            what="four order_paid messages",
        )
    finally:
        after_task_publish.disconnect(count)
    assert PointsLot.objects.filter(member=shopper.member).count() == 4
    assert Member.objects.get(pk=shopper.member.pk).growth == 4 * (sku.price_fen // 100)
    # one sweep for the burst (two if it straddled the coalescing window), no task per payment
    sweeps = published.count("payments.tasks.paid_followups_sweep_task")
    assert 1 <= sweeps <= 2, published
    assert "payments.tasks.payment_paid_followups_task" not in published
