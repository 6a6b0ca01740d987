"""Automatic member tags (shop.lifecycle.member_tags), recomputed set-based from paid orders."""

from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.tests.factories import SkuFactory
from members.models import MemberTag, Tag
from members.tags import member_tags_add
from members.tests.factories import MemberFactory
from orders.models import Order, OrderStatus
from orders.services import order_transition
from payments.tests.conftest import place_order
from shop.lifecycle.member_tags import tags_auto_refresh

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
