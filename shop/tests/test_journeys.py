"""Lifecycle journeys: replenish reminders (a run twice sends once; none after a rebuy), win-back
coupons once per dormancy; the journeys' admin pages."""

import pytest

from catalog.tests.factories import CategoryFactory, ProductFactory, SkuFactory
from marketing.models import Coupon, JourneySend, ReplenishRule
from marketing.tests.coupon_factories import CouponTemplateFactory
from members.models import Member, SubscribeMessage
from members.tests.factories import MemberFactory
from payments.tests.conftest import order_bought
from shop.lifecycle.journeys import replenish_run, winback_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def tea():
    return SkuFactory(price_fen=8800, product=ProductFactory(title="西湖龙井"))


def test_replenish_run_twice_sends_once(
    tea, django_capture_on_commit_callbacks, wechat_sim, member_login
):
    # given: a 30-day rule with a coupon; an order received 31 days ago, one received 10 days ago
    template = CouponTemplateFactory(
        kind="cash", threshold_fen=0, amount_fen=1000, validity="relative", valid_days=7
    )
    ReplenishRule.objects.create(
        name="龙井复购", product=tea.product, cycle_days=30, coupon_template=template
    )
    member = Member.objects.get(pk=member_login("o-replenish")[0])  # WeChat knows its openid
    recent = MemberFactory()
    due = order_bought(member, [tea, SkuFactory()], paid_days_ago=40, received_days_ago=31)
    order_bought(recent, [tea], paid_days_ago=12, received_days_ago=10)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        first = replenish_run()
    second = replenish_run()

    # then: one send (the tea line of the due order), one coupon, one message to WeChat
    assert (first["sent"], second["sent"]) == (1, 0)
    send = JourneySend.objects.get()
    tea_line = due.lines.get(sku=tea)
    assert (send.member_id, send.order_line_id, send.kind) == (member.pk, tea_line.pk, "replenish")
    assert send.coupon.template_id == template.pk
    assert send.coupon.source == Coupon.Source.JOURNEY
    assert Coupon.objects.filter(member=member).count() == 1
    message = SubscribeMessage.objects.get(member=member)
    assert (message.template_key, message.status) == ("replenish", SubscribeMessage.Status.SENT)
    assert [m["touser"] for m in wechat_sim.messages()] == [member.openid]


def test_not_sent_when_rebought_or_refunded(tea):
    # given: a category rule (on the parent category) and three members
    parent = CategoryFactory()
    tea.product.category = CategoryFactory(parent=parent)
    tea.product.save()
    ReplenishRule.objects.create(name="茶叶", category=parent, cycle_days=30, send_message=False)
    rebought, refunded, due = MemberFactory.create_batch(3)
    order_bought(rebought, [tea], paid_days_ago=35, received_days_ago=32)
    order_bought(rebought, [tea], paid_days_ago=2)  # bought again since
    order = order_bought(refunded, [tea], paid_days_ago=35, received_days_ago=32)
    order.lines.update(refunded_quantity=1)
    order_bought(due, [tea], paid_days_ago=35, received_days_ago=32)

    # when
    counts = replenish_run()

    # then
    assert counts["sent"] == 1
    assert list(JourneySend.objects.values_list("member_id", flat=True)) == [due.pk]


def test_old_orders_past_the_lookback_are_left_alone(tea, settings):
    # given
    settings.JOURNEY_LOOKBACK_DAYS = 7
    ReplenishRule.objects.create(name="龙井", product=tea.product, cycle_days=30)
    order_bought(MemberFactory(), [tea], paid_days_ago=100, received_days_ago=90)

    # when / then
    assert replenish_run()["sent"] == 0


def test_winback_once_per_dormancy(settings, tea):
    # given
    template = CouponTemplateFactory(kind="cash", threshold_fen=0, amount_fen=500)
    settings.WINBACK_COUPON_TEMPLATE_ID = template.pk
    settings.WINBACK_DORMANT_DAYS = 90
    dormant, active = MemberFactory.create_batch(2)
    order_bought(dormant, [tea], paid_days_ago=120)
    order_bought(active, [tea], paid_days_ago=5)

    # when
    first, second = winback_run(batch_size=1), winback_run()

    # then
    assert (first["sent"], second["sent"]) == (1, 0)
    assert list(Coupon.objects.values_list("member_id", "template_id")) == [
        (dormant.pk, template.pk)
    ]

    # when: the member comes back, then sleeps again: a new dormancy, a new coupon
    order_bought(dormant, [tea], paid_days_ago=95)
    assert winback_run()["sent"] == 1


def test_admin_pages_show_counts(admin_client, tea):
    # given
    template = CouponTemplateFactory(kind="cash", threshold_fen=0, amount_fen=500)
    ReplenishRule.objects.create(
        name="龙井复购", product=tea.product, cycle_days=30, coupon_template=template
    )
    order_bought(MemberFactory(), [tea], paid_days_ago=35, received_days_ago=31)
    replenish_run()

    # when / then
    for url in (
        "/admin/marketing/replenishrule/",
        "/admin/marketing/journeysend/",
        "/admin/marketing/pointsmallitem/",
        "/admin/marketing/pointsmallexchange/",
        "/admin/members/tag/",
        "/admin/members/membertag/",
        "/admin/members/referral/",
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url
    rules = admin_client.get("/admin/marketing/replenishrule/").content.decode()
    assert "龙井复购" in rules
    assert "0.0%" in rules
