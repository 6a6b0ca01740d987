"""The payment notification is the hot path (bench/notify.py): its SQL is budgeted, and so is
the follow-up that applies the payment's effects."""

import pytest

from mall.db import prepared_name
from members.models import GrowthLog, LevelChangeLog, Member, MemberLevel, PointsLot
from members.task_cards import task_cards_ensure, task_complete
from payments import wechat
from payments.models import LedgerEntry, PaymentAttempt
from payments.services.paid_effects import order_paid_effects_apply
from payments.sql import order_attempt_paid_fast_sql
from payments.tests.conftest import notification_body, place_order

pytestmark = pytest.mark.django_db

NOTIFY = "/api/v1/payments/wechat/notify"
# A new notification of an ordinary order: one statement (order paid + its log + attempt paid +
# ledger row), in autocommit. A replay: the same statement, which writes nothing and reads the
# attempt as it was.
NEW_NOTIFICATION_SQL = 1
# Then the follow-up applies the payment's effects in other apps (paid_effects.py), for an order
# without promotion, coupon or campaign: the claim (UPDATE … RETURNING the fields the hooks read),
# the member locked once (with its level's multiplier, the level the new growth reaches, whether
# first_order is still due), the pending points lot, one UPDATE of growth (and level), the growth
# log, the 消费返券 rules; plus the savepoint pair of its transaction inside the test's.
EFFECTS_SQL = 8
LEVEL_CHANGE_SQL = 1  # the level change log, only when the growth crosses a threshold


def _notify_once(api_client, order, django_assert_num_queries):
    attempt = PaymentAttempt.objects.get(order=order)
    body = notification_body(
        attempt.out_trade_no,
        transaction_id=f"42000000000000000000{order.pk:08d}",
        total_fee=order.wechat_pay_fen,
    )
    with django_assert_num_queries(NEW_NOTIFICATION_SQL) as new:
        first = api_client.post(NOTIFY, data=body, content_type="text/xml")
    with django_assert_num_queries(1):
        replay = api_client.post(NOTIFY, data=body, content_type="text/xml")
    assert first.content == replay.content == wechat.SUCCESS_XML
    return new


def _effects_once(order, django_assert_num_queries, expected_sql):
    """The follow-up's part in other apps, as its task runs it (the test's transaction keeps the
    on-commit task from running by itself); a second run finds it claimed."""
    with django_assert_num_queries(expected_sql) as effects:
        assert order_paid_effects_apply(order_id=order.pk)
    with django_assert_num_queries(3):  # the claim finds nothing, in its savepoint pair
        assert not order_paid_effects_apply(order_id=order.pk)
    return effects


def test_a_new_notification_is_settled_in_one_statement_a_replay_in_one_read(
    shopper, sku, wechat_sim, api_client, django_assert_num_queries
):
    # given
    order = place_order(shopper.member, [(sku, 2)])
    shopper.pay(order)
    # when
    new = _notify_once(api_client, order, django_assert_num_queries)
    # then: paid and in the ledger, the effects still due
    settle_sql = order_attempt_paid_fast_sql()  # run as the prepared statement of its text
    assert new.captured_queries[0]["sql"].startswith(f"EXECUTE {prepared_name(settle_sql)}(")
    order.refresh_from_db()
    assert (order.status, order.paid_effects_at) == ("paid", None)
    assert order.status_logs.filter(to_status="paid", actor="wechat").count() == 1
    assert LedgerEntry.objects.filter(order=order).values_list("kind", "amount_fen").get() == (
        "wechat_payment",
        3998,
    )
    assert not PointsLot.objects.filter(source_key=f"order:{order.no}").exists()
    # when: the follow-up
    effects = _effects_once(order, django_assert_num_queries, EFFECTS_SQL)
    # then
    assert not [q["sql"] for q in effects.captured_queries if '"marketing_coupon"' in q["sql"]]
    order.refresh_from_db()
    assert order.paid_effects_at is not None
    member = Member.objects.get(pk=shopper.member.pk)
    assert (member.growth, member.level_id) == (39, None)
    assert PointsLot.objects.filter(source_key=f"order:{order.no}").values_list(
        "status", "points"
    ).get() == ("pending", 39)


def test_a_member_with_a_level_crossing_the_next_one(
    shopper, sku, wechat_sim, api_client, django_assert_num_queries
):
    # given: a silver member (×1.5 points) 10 growth short of gold, first_order done already
    silver = MemberLevel.objects.create(
        name="白银会员", growth_threshold=0, points_multiplier_bp=15000
    )
    gold = MemberLevel.objects.create(name="黄金会员", growth_threshold=100)
    Member.objects.filter(pk=shopper.member.pk).update(level=silver, growth=90)
    task_cards_ensure()
    assert task_complete(member_id=shopper.member.pk, code="first_order")
    order = place_order(shopper.member, [(sku, 2)])
    shopper.pay(order)
    # when
    _notify_once(api_client, order, django_assert_num_queries)
    _effects_once(order, django_assert_num_queries, EFFECTS_SQL + LEVEL_CHANGE_SQL)
    # then: points at silver's rate, growth and gold in one UPDATE, each logged once
    member = Member.objects.get(pk=shopper.member.pk)
    assert (member.growth, member.level_id) == (90 + 39, gold.pk)
    assert PointsLot.objects.get(source_key=f"order:{order.no}").points == 39 * 1500 // 1000
    assert GrowthLog.objects.filter(member=member).values_list("growth", "growth_after").get() == (
        39,
        129,
    )
    assert LevelChangeLog.objects.filter(member=member).values_list(
        "from_level_id", "to_level_id", "growth"
    ).get() == (silver.pk, gold.pk, 129)


def test_a_member_with_a_level_staying_on_it(
    shopper, sku, wechat_sim, api_client, django_assert_num_queries
):
    # given: a gold member far from any next level; the first_order task is active but done
    gold = MemberLevel.objects.create(name="黄金会员", growth_threshold=100)
    Member.objects.filter(pk=shopper.member.pk).update(level=gold, growth=500)
    task_cards_ensure()
    assert task_complete(member_id=shopper.member.pk, code="first_order")
    order = place_order(shopper.member, [(sku, 2)])
    shopper.pay(order)
    # when
    _notify_once(api_client, order, django_assert_num_queries)
    _effects_once(order, django_assert_num_queries, EFFECTS_SQL)
    # then
    member = Member.objects.get(pk=shopper.member.pk)
    assert (member.growth, member.level_id) == (539, gold.pk)
    assert not LevelChangeLog.objects.filter(member=member).exists()


def test_coupon_and_campaign_hooks_run_when_the_breakdown_has_them(
    shopper, wechat_sim, api_client, django_assert_num_queries
):
    # given: 满300减50 on tea, 买2赠杯 (a gift line, a 0 fen usage), and the member's coupon
    from datetime import timedelta

    from django.utils import timezone

    from catalog.tests.factories import SkuFactory
    from marketing.models import Campaign, CampaignUsage, Coupon, CouponTemplate
    from marketing.services.campaigns import TierInput, campaign_create
    from marketing.services.coupons import coupons_issue
    from marketing.tests.coupon_factories import CouponTemplateFactory

    now = timezone.now()
    window = {"starts_at": now - timedelta(hours=1), "ends_at": now + timedelta(hours=2)}
    tea, cup = SkuFactory(price_fen=15000, stock=50), SkuFactory(price_fen=1500, stock=5)
    full = campaign_create(
        name="满300减50",
        kind=Campaign.Kind.FULL_REDUCTION,
        tiers=[TierInput(30000, reduce_fen=5000)],
        **window,
    )
    gift = campaign_create(
        name="买2赠杯",
        kind=Campaign.Kind.BUY_GIFT,
        scope=Campaign.Scope.PRODUCTS,
        product_ids=[tea.product_id],
        buy_quantity=2,
        gift_quantity=1,
        gift_sku_id=cup.pk,
        **window,
    )
    template = CouponTemplateFactory(name="满100减30")
    (coupon,) = coupons_issue(template_id=template.pk, member_ids=[shopper.member.pk])
    order = place_order(shopper.member, [(tea, 2)])
    refs = {d["ref"] for d in order.breakdown["discounts"]}
    assert {f"campaign:{full.pk}", f"coupon:{coupon.pk}"} <= refs
    assert any(line["gift"] for line in order.breakdown["lines"])
    shopper.pay(order)
    # when: + the coupon (read, used, template count) and the usages (read, one UPDATE each)
    _notify_once(api_client, order, django_assert_num_queries)
    coupon.refresh_from_db()
    assert coupon.status == Coupon.Status.LOCKED  # until the follow-up
    _effects_once(order, django_assert_num_queries, EFFECTS_SQL + 6)
    # then
    coupon.refresh_from_db()
    assert coupon.status == Coupon.Status.USED
    assert CouponTemplate.objects.get(pk=template.pk).used_count == 1
    assert dict(
        CampaignUsage.objects.filter(order_id=order.pk).values_list("campaign_id", "status")
    ) == {
        full.pk: "paid",
        gift.pk: "paid",
    }


@pytest.mark.django_db(transaction=True)
def test_concurrent_payments_of_one_member_add_up_and_cross_the_level_once(
    shopper, sku, wechat_sim
):
    # given: four unpaid orders of one member (39 growth each), gold at 100 growth
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection
    from django.utils import timezone

    from payments.services import payment_settle

    gold = MemberLevel.objects.create(name="黄金会员", growth_threshold=100)
    orders = [place_order(shopper.member, [(sku, 2)]) for _ in range(4)]
    for order in orders:
        shopper.pay(order)
    attempts = list(PaymentAttempt.objects.filter(order__in=orders))
    start = threading.Barrier(len(attempts))

    def settle(attempt):
        start.wait()
        try:
            return payment_settle(
                out_trade_no=attempt.out_trade_no,
                transaction_id=f"4200000000000000000000{attempt.pk:06d}",
                total_fee=attempt.amount_fen,
                paid_at=timezone.now(),
                source="notify",
            )
        finally:
            connection.close()

    # when
    with ThreadPoolExecutor(max_workers=len(attempts)) as pool:
        outcomes = list(pool.map(settle, attempts))
    # then: each payment's growth counted once, on top of the one before; one level change
    assert {str(o) for o in outcomes} == {"settled"}
    member = Member.objects.get(pk=shopper.member.pk)
    assert (member.growth, member.level_id) == (4 * 39, gold.pk)
    assert sorted(
        GrowthLog.objects.filter(member=member).values_list("growth_after", flat=True)
    ) == [
        39,
        78,
        117,
        156,
    ]
    assert list(
        LevelChangeLog.objects.filter(member=member).values_list(
            "from_level_id", "to_level_id", "growth"
        )
    ) == [(None, gold.pk, 117)]
    assert PointsLot.objects.filter(member=member, status="pending").count() == 4
