"""Member tags: automatic tags recomputed set-based from paid orders; manual tags by service."""

from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.tests.factories import SkuFactory
from mall.errors import TagNotManual
from members.models import MemberTag, SubscribeMessage, Tag
from members.tags import (
    member_tags_add,
    member_tags_remove,
    tag_member_ids,
    tag_subscribe_messages_queue,
    tags_auto_ensure,
    tags_auto_refresh,
)
from members.tests.factories import MemberFactory
from orders.models import Order, OrderStatus
from orders.services import order_transition
from payments.tests.conftest import place_order

pytestmark = pytest.mark.django_db


def _paid_order(member, *, price_fen=5000, paid_days_ago=0, refunded=False):
    order = place_order(member, [(SkuFactory(price_fen=price_fen), 1)])
    paid_at = timezone.now() - timedelta(days=paid_days_ago)
    order_transition(
        order_id=order.pk,
        from_status=OrderStatus.PENDING_PAYMENT,
        to_status=OrderStatus.PAID,
        actor="system",
        paid_at=paid_at,
    )
    if refunded:
        order_transition(
            order_id=order.pk, from_status=OrderStatus.PAID, to_status=OrderStatus.CLOSED, actor="t"
        )
    return Order.objects.get(pk=order.pk)


def _tags_of(member):
    return set(MemberTag.objects.filter(member=member).values_list("tag__code", flat=True)) - {None}


def test_auto_tags_follow_orders(settings):
    # given
    settings.TAG_HIGH_VALUE_FEN = 10_000
    now = timezone.now()
    newcomer = MemberFactory()  # registered now, no orders
    active = MemberFactory(created_at=now - timedelta(days=200))
    _paid_order(active, paid_days_ago=3)
    dormant = MemberFactory(created_at=now - timedelta(days=400))
    _paid_order(dormant, paid_days_ago=120)
    big = MemberFactory(created_at=now - timedelta(days=400))
    _paid_order(big, price_fen=6000, paid_days_ago=40)
    _paid_order(big, price_fen=6000, paid_days_ago=50)
    refunded = MemberFactory(created_at=now - timedelta(days=400))
    _paid_order(refunded, price_fen=20_000, paid_days_ago=2, refunded=True)

    # when: the task runs twice, in small id ranges
    first = tags_auto_refresh(batch_size=2)
    second = tags_auto_refresh(batch_size=2)

    # then
    assert _tags_of(newcomer) == {"new"}
    assert _tags_of(active) == {"active_30d"}
    assert _tags_of(dormant) == {"dormant_90d"}
    assert _tags_of(big) == {"high_value"}
    assert _tags_of(refunded) == set()  # a fully refunded order is no purchase
    assert first["added"] == 4
    assert (second["added"], second["removed"]) == (0, 0)

    # when: the dormant member buys again
    _paid_order(dormant, price_fen=3000, paid_days_ago=0)
    counts = tags_auto_refresh()

    # then
    assert _tags_of(dormant) == {"active_30d"}
    assert (counts["added"], counts["removed"]) == (1, 1)


def test_auto_refresh_keeps_manual_tags():
    # given
    vip = Tag.objects.create(name="VIP")
    member = MemberFactory()
    member_tags_add(member_ids=[member.pk], tag_id=vip.pk)

    # when
    tags_auto_refresh()

    # then
    assert set(MemberTag.objects.filter(member=member).values_list("tag__name", flat=True)) == {
        "VIP",
        "新会员",
    }


def test_manual_tags_add_remove_and_auto_tags_refused():
    # given
    vip = Tag.objects.create(name="VIP")
    members = MemberFactory.create_batch(3)
    ids = [m.pk for m in members]
    auto_new = tags_auto_ensure()["new"]

    # when / then
    assert member_tags_add(member_ids=ids, tag_id=vip.pk) == 3
    assert member_tags_add(member_ids=ids, tag_id=vip.pk) == 0
    assert [pk for batch in tag_member_ids(tag_id=vip.pk, batch_size=2) for pk in batch] == sorted(
        ids
    )
    assert member_tags_remove(member_ids=ids[:1], tag_id=vip.pk) == 1
    with pytest.raises(TagNotManual):
        member_tags_add(member_ids=ids, tag_id=auto_new)
    assert MemberTag.objects.filter(tag_id=vip.pk).count() == 2


def test_admin_tag_action_assigns_a_manual_tag(admin_client):
    # given
    vip = Tag.objects.create(name="VIP")
    members = MemberFactory.create_batch(2)

    # when: the action's form, then its confirmation
    data = {"action": "member_tag_add_action", "_selected_action": [m.pk for m in members]}
    form = admin_client.post("/admin/members/member/", data)
    done = admin_client.post("/admin/members/member/", {**data, "apply": "1", "tag": vip.pk})

    # then
    assert form.status_code == 200
    assert "添加标签" in form.content.decode()
    assert done.status_code == 302
    assert MemberTag.objects.filter(tag=vip).count() == 2


def test_a_message_to_a_tag_goes_once_per_campaign():
    # given
    vip = Tag.objects.create(name="VIP")
    members = MemberFactory.create_batch(3)
    member_tags_add(member_ids=[m.pk for m in members[:2]], tag_id=vip.pk)
    data = {"thing1": {"value": "会员日"}, "thing2": {"value": "全场 9 折"}}

    # when
    first = tag_subscribe_messages_queue(
        tag_id=vip.pk, template_key="member_day", data=data, campaign="2026-11"
    )
    again = tag_subscribe_messages_queue(
        tag_id=vip.pk, template_key="member_day", data=data, campaign="2026-11"
    )

    # then
    assert (first, again) == (2, 0)
    assert set(SubscribeMessage.objects.values_list("member_id", flat=True)) == {
        members[0].pk,
        members[1].pk,
    }
