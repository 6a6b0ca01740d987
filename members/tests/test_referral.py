"""Referral (转介绍): invite codes, binding at first login (never on a self-invite or a second
inviter), rewarding once; the settlement from orders is tested in shop/tests."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from members.models import Member, Referral
from members.referral import invite_get_or_create, referral_bind, referral_reward
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


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
