"""Referral rewards (shop.lifecycle.referral_rewards): rewarded once when the invitee's first
paid order is past the after-sales window, each inviter of a chain for its own invitee only,
cancelled when that order was refunded in full."""

from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.tests.factories import SkuFactory
from members.models import Member, Referral
from members.referral import invite_get_or_create, referral_bind
from members.tests.factories import MemberFactory
from orders.models import OrderStatus
from orders.services import order_transition
from payments.tests.conftest import place_order
from shop.lifecycle.referral_rewards import referrals_settle

pytestmark = pytest.mark.django_db


def _order_to(member, status, *, received_days_ago=0, sku=None):
    """An order of the member moved through the state machine to `status`."""
    order = place_order(member, [(sku or SkuFactory(price_fen=5000), 1)])
    now = timezone.now()
    steps = {
        OrderStatus.PAID: [(OrderStatus.PENDING_PAYMENT, OrderStatus.PAID)],
        OrderStatus.RECEIVED: [
            (OrderStatus.PENDING_PAYMENT, OrderStatus.PAID),
            (OrderStatus.PAID, OrderStatus.SHIPPED),
            (OrderStatus.SHIPPED, OrderStatus.RECEIVED),
        ],
        OrderStatus.COMPLETED: [
            (OrderStatus.PENDING_PAYMENT, OrderStatus.PAID),
            (OrderStatus.PAID, OrderStatus.SHIPPED),
            (OrderStatus.SHIPPED, OrderStatus.RECEIVED),
            (OrderStatus.RECEIVED, OrderStatus.COMPLETED),
        ],
        OrderStatus.CLOSED: [
            (OrderStatus.PENDING_PAYMENT, OrderStatus.PAID),
            (OrderStatus.PAID, OrderStatus.CLOSED),
        ],
    }[status]
    for from_status, to_status in steps:
        extra = {"received_at": now - timedelta(days=received_days_ago)}
        order_transition(
            order_id=order.pk,
            from_status=from_status,
            to_status=to_status,
            actor="system",
            **(extra if to_status == OrderStatus.RECEIVED else {}),
        )
    order.refresh_from_db()
    return order


def _points(member):
    return Member.objects.values_list("points_balance", flat=True).get(pk=member.pk)


def test_reward_once_when_first_order_is_past_after_sales(settings):
    # given
    settings.REFERRAL_INVITER_POINTS, settings.REFERRAL_INVITEE_POINTS = 500, 200
    inviter, invitee = MemberFactory.create_batch(2)
    referral_bind(invitee=invitee, inviter_code=invite_get_or_create(member=inviter).code)
    order = _order_to(invitee, OrderStatus.RECEIVED, received_days_ago=1)

    # when: inside the after-sales window nothing happens
    waiting = referrals_settle()
    # then
    assert waiting["rewarded"] == 0
    assert _points(inviter) == 0

    # when: the window has passed; the task runs twice
    later = timezone.now() + timedelta(days=settings.AFTER_SALE_DAYS + 1)
    first = referrals_settle(now=later)
    second = referrals_settle(now=later)

    # then
    assert (first["rewarded"], second["rewarded"]) == (1, 0)
    referral = Referral.objects.get(invitee=invitee)
    assert (referral.status, referral.order_no) == (Referral.Status.REWARDED, order.no)
    assert (_points(inviter), _points(invitee)) == (500, 200)


def test_chain_rewards_each_inviter_once(settings):
    # given: A → B → C, both first orders completed
    settings.REFERRAL_INVITER_POINTS, settings.REFERRAL_INVITEE_POINTS = 500, 200
    a, b, c = MemberFactory.create_batch(3)
    referral_bind(invitee=b, inviter_code=invite_get_or_create(member=a).code)
    referral_bind(invitee=c, inviter_code=invite_get_or_create(member=b).code)
    _order_to(b, OrderStatus.COMPLETED, received_days_ago=10)
    _order_to(c, OrderStatus.COMPLETED, received_days_ago=10)

    # when
    counts = referrals_settle()
    referrals_settle()

    # then: A for B only; B for C (inviter) and for its own first order (invitee)
    assert counts["rewarded"] == 2
    assert (_points(a), _points(b), _points(c)) == (500, 200 + 500, 200)


def test_refunded_first_order_cancels_the_reward(settings):
    # given
    inviter, invitee = MemberFactory.create_batch(2)
    referral_bind(invitee=invitee, inviter_code=invite_get_or_create(member=inviter).code)
    first = _order_to(invitee, OrderStatus.CLOSED)
    _order_to(invitee, OrderStatus.COMPLETED, received_days_ago=30)  # a later order does not count

    # when
    counts = referrals_settle()

    # then
    referral = Referral.objects.get(invitee=invitee)
    assert counts["cancelled"] == 1
    assert (referral.status, referral.order_no) == (Referral.Status.CANCELLED, first.no)
    assert (_points(inviter), _points(invitee)) == (0, 0)
