"""Sign-in (签到): one per member per Beijing date even under 20 concurrent requests, streak
bonus on the 7th day, make-up off by default, the calendar."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from rest_framework.test import APIClient

from mall.errors import AlreadySignedIn, SignInMakeupUnavailable
from members.models import Member, SignIn, SignInRule
from members.points import points_balance_matches_ledger
from members.signin import signin_calendar, signin_do
from members.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

BEIJING = ZoneInfo("Asia/Shanghai")


def at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=BEIJING)


def client_for(member) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=member)
    return client


def test_streak_bonus_on_the_seventh_day_and_a_gap_restarts_it():
    # given: defaults (5 a day, +20 on every 7th consecutive day)
    member = MemberFactory()
    first = date(2026, 3, 1)
    # when: 7 days in a row, skip one, sign again
    got = [signin_do(member_id=member.pk, now=at(first + timedelta(days=i))) for i in range(7)]
    after_gap = signin_do(member_id=member.pk, now=at(first + timedelta(days=8)))
    # then
    assert [s.streak for s in got] == [1, 2, 3, 4, 5, 6, 7]
    assert [s.points for s in got] == [5, 5, 5, 5, 5, 5, 25]
    assert (after_gap.streak, after_gap.points) == (1, 5)
    assert Member.objects.get(pk=member.pk).points_balance == 60
    assert points_balance_matches_ledger(member_id=member.pk)


def test_the_day_is_the_beijing_date():
    # given: 23:30 UTC on 1 March is 07:30 on 2 March in Beijing
    member = MemberFactory()
    from datetime import UTC

    sign_in = signin_do(member_id=member.pk, now=datetime(2026, 3, 1, 23, 30, tzinfo=UTC))
    assert sign_in.date == date(2026, 3, 2)
    with pytest.raises(AlreadySignedIn):
        signin_do(member_id=member.pk, now=at(date(2026, 3, 2), 22))


def test_make_up_is_off_by_default_and_follows_the_rule():
    member = MemberFactory()
    today = date(2026, 3, 10)
    with pytest.raises(SignInMakeupUnavailable):
        signin_do(member_id=member.pk, now=at(today), makeup_date=today - timedelta(days=1))
    # given: the merchant allows 3 days back
    SignInRule.objects.create(makeup_enabled=True, makeup_days=3)
    made_up = signin_do(member_id=member.pk, now=at(today), makeup_date=today - timedelta(days=2))
    assert (made_up.is_makeup, made_up.points) == (True, 5)
    with pytest.raises(SignInMakeupUnavailable):
        signin_do(member_id=member.pk, now=at(today), makeup_date=today - timedelta(days=4))
    with pytest.raises(SignInMakeupUnavailable):
        signin_do(member_id=member.pk, now=at(today), makeup_date=today + timedelta(days=1))
    with pytest.raises(SignInMakeupUnavailable):  # signed already
        signin_do(member_id=member.pk, now=at(today), makeup_date=today - timedelta(days=2))


def test_calendar_shows_days_streak_and_todays_reward():
    member = MemberFactory()
    for day in (date(2026, 2, 27), date(2026, 2, 28), date(2026, 3, 1), date(2026, 3, 2)):
        signin_do(member_id=member.pk, now=at(day))
    # when: on 3 March, not signed yet
    calendar = signin_calendar(member_id=member.pk, year=2026, month=3, now=at(date(2026, 3, 3)))
    # then
    assert calendar.days == [date(2026, 3, 1), date(2026, 3, 2)]
    assert (calendar.streak, calendar.signed_today, calendar.today_points) == (4, False, 5)
    assert calendar.month == "2026-03"


def test_signin_api_and_calendar_api():
    member = MemberFactory()
    client = client_for(member)
    first = client.post("/api/v1/signin", {}, format="json")
    again = client.post("/api/v1/signin", {}, format="json")
    assert first.status_code == 200, first.content
    assert (first.json()["streak"], first.json()["points"], first.json()["points_balance"]) == (
        1,
        5,
        5,
    )
    assert (again.status_code, again.json()["code"]) == (409, "already_signed_in")
    calendar = client.get("/api/v1/signin/calendar").json()
    assert (calendar["signed_today"], calendar["streak"], len(calendar["days"])) == (True, 1, 1)
    bad = client.get("/api/v1/signin/calendar?month=2026-13")
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid")
    off = client.post("/api/v1/signin", {"date": "2020-01-01"}, format="json")
    assert (off.status_code, off.json()["code"]) == (409, "signin_makeup_unavailable")


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_sign_ins_make_one():
    # given
    member = MemberFactory()
    start = threading.Barrier(20)
    results = []

    def sign(_: int) -> None:
        start.wait()
        try:
            client = client_for(member)
            results.append(client.post("/api/v1/signin", {}, format="json").status_code)
        finally:
            connection.close()

    # when
    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(sign, range(20)))
    # then
    assert sorted(results) == [200] + [409] * 19
    assert SignIn.objects.filter(member=member).count() == 1
    assert Member.objects.get(pk=member.pk).points_balance == 5
    assert points_balance_matches_ledger(member_id=member.pk)
