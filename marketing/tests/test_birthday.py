"""Birthday: set once through PATCH /me (it completes the profile task), and the birthday journey
gives the level's birthday coupon once a year (29 Feb on 28 Feb in other years)."""

from datetime import date
from uuid import uuid4

import pytest

from marketing.models import Coupon, JourneySend
from marketing.services.journeys import birthday_run
from marketing.tests.coupon_factories import CouponTemplateFactory
from members.models import Member, MemberLevel, SubscribeMessage, TaskCard, TaskCompletion
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_birthday_is_set_once_and_a_complete_profile_completes_its_task(member_login):
    TaskCard.objects.create(code="complete_profile", name="完善资料", points=20)
    member_id, client = member_login(f"o-bd-{uuid4().hex[:8]}")
    Member.objects.filter(pk=member_id).update(phone="13800138000")
    # when
    answer = client.patch(
        "/api/v1/me",
        {
            "nickname": "小王",
            "avatar_url": "https://img.example.com/a.png",
            "birthday": "1990-05-20",
        },
        format="json",
    )
    # then
    assert answer.status_code == 200, answer.content
    assert (answer.json()["nickname"], answer.json()["birthday"]) == ("小王", "1990-05-20")
    assert TaskCompletion.objects.filter(member_id=member_id).count() == 1
    # a second birthday is refused, the same one is fine, a future one is invalid
    again = client.patch("/api/v1/me", {"birthday": "1991-01-01"}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "birthday_locked")
    assert client.patch("/api/v1/me", {"birthday": "1990-05-20"}, format="json").status_code == 200
    assert Member.objects.get(pk=member_id).birthday == date(1990, 5, 20)


def test_a_member_without_a_birthday_cannot_set_one_in_the_future(member_login):
    _, client = member_login(f"o-bd-{uuid4().hex[:8]}")
    answer = client.patch("/api/v1/me", {"birthday": "2999-01-01"}, format="json")
    assert (answer.status_code, answer.json()["code"]) == (400, "profile_invalid")


def test_birthday_coupon_once_a_year_by_level(wechat_sim):
    # given: gold members get a birthday coupon; silver ones do not
    template = CouponTemplateFactory(name="生日券", threshold_fen=0, amount_fen=2000)
    gold = MemberLevel.objects.create(
        name="黄金", growth_threshold=500, birthday_coupon_template_id=template.pk
    )
    silver = MemberLevel.objects.create(name="白银", growth_threshold=100)
    today_gold = MemberFactory(level=gold, birthday=date(1990, 11, 23))
    leap_gold = MemberFactory(level=gold, birthday=date(1992, 2, 29))
    MemberFactory(level=silver, birthday=date(1990, 11, 23))
    MemberFactory(level=gold, birthday=date(1990, 11, 24))
    MemberFactory(level=gold)
    # when: run twice on the day
    first = birthday_run(today=date(2026, 11, 23), batch_size=2)
    second = birthday_run(today=date(2026, 11, 23), batch_size=2)
    # then
    assert (first, second) == ({"sent": 1}, {"sent": 0})
    assert list(Coupon.objects.values_list("member_id", "template_id")) == [
        (today_gold.pk, template.pk)
    ]
    assert SubscribeMessage.objects.filter(member=today_gold, template_key="birthday").count() == 1
    # 29 Feb birthdays are celebrated on 28 Feb of a common year, once
    assert birthday_run(today=date(2027, 2, 28)) == {"sent": 1}
    assert birthday_run(today=date(2027, 3, 1)) == {"sent": 0}
    assert JourneySend.objects.filter(member=leap_gold, kind="birthday").count() == 1
    # next year: again
    assert birthday_run(today=date(2027, 11, 23)) == {"sent": 1}
