"""The levels demo seeder: safe to run twice."""

import io

import pytest

from members.demo_levels import seed_demo
from members.models import Member, MemberLevel, TaskCard
from members.points import points_balance_matches_ledger

pytestmark = pytest.mark.django_db


def test_seed_demo_twice():
    # given
    shopper = Member.objects.create(openid="demo-shopper-openid")
    # when
    seed_demo(io.StringIO())
    seed_demo(io.StringIO())
    # then
    shopper.refresh_from_db()
    assert (MemberLevel.objects.count(), TaskCard.objects.count()) == (4, 5)
    assert (shopper.level.name, shopper.growth, shopper.sign_ins.count()) == ("白银会员", 666, 6)
    assert points_balance_matches_ledger(member_id=shopper.pk)
