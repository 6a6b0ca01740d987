"""Referral (转介绍): binding at first login, rewarded once when the first paid order is past
the after-sales window; never on a self-invite, a second inviter, up a chain, or after a refund."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from catalog.tests.factories import SkuFactory
from marketing.tasks.journeys import referrals_settle
from members.models import Member, Referral
from members.referral import invite_get_or_create, referral_bind, referral_reward
from members.tests.factories import MemberFactory
from orders.models import OrderStatus
from orders.services import order_transition
from payments.tests.conftest import place_order

pytestmark = pytest.mark.django_db

S = OrderStatus


def _order_to(member, status, *, received_days_ago=0, sku=None):
    """An order of the member moved through the state machine to `status`."""
    order = place_order(member, [(sku or SkuFactory(price_fen=5000), 1)])
    now = timezone.now()
    steps = {
        S.PAID: [(S.PENDING_PAYMENT, S.PAID)],
        S.RECEIVED: [(S.PENDING_PAYMENT, S.PAID), (S.PAID, S.SHIPPED), (S.SHIPPED, S.RECEIVED)],
        S.COMPLETED: [
            (S.PENDING_PAYMENT, S.PAID),
            (S.PAID, S.SHIPPED),
            (S.SHIPPED, S.RECEIVED),
            (S.RECEIVED, S.COMPLETED),
        ],
        S.CLOSED: [(S.PENDING_PAYMENT, S.PAID), (S.PAID, S.CLOSED)],
    }[status]
    for from_status, to_status in steps:
        extra = {"received_at": now - timedelta(days=received_days_ago)}
        order_transition(
            order_id=order.pk,
            from_status=from_status,
            to_status=to_status,
            actor="system",
            **(extra if to_status == S.RECEIVED else {}),
        )
    order.refresh_from_db()
    return order


def _points(member):
    return Member.objects.values_list("points_balance", flat=True).get(pk=member.pk)


def test_invite_api_gives_a_stable_unique_code(member_login, django_assert_max_num_queries):
    # given
    _, client = member_login("o-inviter")
    other = invite_get_or_create(member=MemberFactory())

    # when
    first = client.get("/api/v1/me/invite")
    with django_assert_max_num_queries(4):
        again = client.get("/api/v1/me/invite").json()

    # then
    assert first.status_code == 200
    code = first.json()["code"]
    assert len(code) == 8
    assert first.json()["scene"] == f"inv={code}"
    assert again["code"] == code
    assert other.code != code
    assert (again["invited_count"], again["rewarded_count"]) == (0, 0)


def test_invite_wxacode_is_an_image(member_login):
    # given
    _, client = member_login("o-inviter-qr")

    # when
    response = client.get("/api/v1/me/invite/wxacode")

    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert len(response.content) > 0


@pytest.fixture
def login_with(wechat_sim, api_client):
    def login(openid, inviter=""):
        body = {"code": wechat_sim.login_code(openid)}
        if inviter:
            body["inviter"] = inviter
        response = api_client.post("/api/v1/auth/login", body, format="json")
        assert response.status_code == 200, response.content
        return response.json()["member"]["id"]

    return login


def test_first_login_binds_inviter_and_later_logins_change_nothing(login_with):
    # given
    inviter = MemberFactory()
    second = MemberFactory()
    code = invite_get_or_create(member=inviter).code
    second_code = invite_get_or_create(member=second).code

    # when
    invitee_id = login_with("o-new-1", inviter=f"inv={code}")
    login_with("o-new-1", inviter=second_code)  # a later login with another inviter
    existing_id = login_with("o-new-2")
    login_with("o-new-2", inviter=code)  # not a first login: no binding

    # then
    referral = Referral.objects.get(invitee_id=invitee_id)
    assert (referral.inviter_id, referral.status) == (inviter.pk, Referral.Status.PENDING)
    assert Referral.objects.count() == 1
    assert not Referral.objects.filter(invitee_id=existing_id).exists()


def test_self_invite_unknown_code_and_second_inviter_are_ignored():
    # given
    member, first, second = MemberFactory.create_batch(3)
    own = invite_get_or_create(member=member).code

    # when / then
    assert referral_bind(invitee=member, inviter_code=own) is None
    assert referral_bind(invitee=member, inviter_code="NOPE2345") is None
    assert referral_bind(invitee=member, inviter_code=invite_get_or_create(member=first).code)
    assert (
        referral_bind(invitee=member, inviter_code=invite_get_or_create(member=second).code) is None
    )
    assert list(Referral.objects.values_list("invitee_id", "inviter_id")) == [(member.pk, first.pk)]


def test_reward_once_when_first_order_is_past_after_sales(settings):
    # given
    settings.REFERRAL_INVITER_POINTS, settings.REFERRAL_INVITEE_POINTS = 500, 200
    inviter, invitee = MemberFactory.create_batch(2)
    referral_bind(invitee=invitee, inviter_code=invite_get_or_create(member=inviter).code)
    order = _order_to(invitee, S.RECEIVED, received_days_ago=1)

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
    _order_to(b, S.COMPLETED, received_days_ago=10)
    _order_to(c, S.COMPLETED, received_days_ago=10)

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
    first = _order_to(invitee, S.CLOSED)
    _order_to(invitee, S.COMPLETED, received_days_ago=30)  # a later order does not count

    # when
    counts = referrals_settle()

    # then
    referral = Referral.objects.get(invitee=invitee)
    assert counts["cancelled"] == 1
    assert (referral.status, referral.order_no) == (Referral.Status.CANCELLED, first.no)
    assert (_points(inviter), _points(invitee)) == (0, 0)


@pytest.mark.django_db(transaction=True)
def test_concurrent_rewards_pay_once(settings):
    # given
    settings.REFERRAL_INVITER_POINTS, settings.REFERRAL_INVITEE_POINTS = 500, 200
    inviter, invitee = MemberFactory.create_batch(2)
    referral_bind(invitee=invitee, inviter_code=invite_get_or_create(member=inviter).code)
    start = threading.Barrier(6)

    def reward(_):
        start.wait()
        try:
            return referral_reward(invitee_id=invitee.pk, order_no="N1")
        finally:
            connection.close()

    # when
    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(reward, range(6)))

    # then
    assert outcomes.count(True) == 1
    assert (_points(inviter), _points(invitee)) == (500, 200)
