"""Daily sign-in (签到): one per member per Beijing date (a unique constraint decides races),
base points each day, a bonus on every `streak_days`-th consecutive day; make-up sign-in
(补签) of a recent missed day only when the rule allows it (off by default)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from mall.errors import AlreadySignedIn, SignInMakeupUnavailable

from .models import SignIn, SignInRule
from .points import points_earn


def signin_rule_get() -> SignInRule:
    """The rule in force: the first row, else the defaults (unsaved)."""
    return SignInRule.objects.order_by("pk").first() or SignInRule()


def signin_points_for(*, rule: SignInRule, streak: int, is_makeup: bool = False) -> int:
    bonus = (
        rule.streak_bonus_points
        if not is_makeup and rule.streak_days and streak % rule.streak_days == 0
        else 0
    )
    return rule.base_points + bonus


def _streak_before(member_id: int, day: date) -> int:
    previous = (
        SignIn.objects.filter(member_id=member_id, date=day - timedelta(days=1))
        .values_list("streak", flat=True)
        .first()
    )
    return previous or 0


def signin_do(
    *, member_id: int, now: datetime | None = None, makeup_date: date | None = None
) -> SignIn:
    """Sign in for today (Beijing date), or make up a missed recent day.

    Raises: AlreadySignedIn, SignInMakeupUnavailable.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    rule = signin_rule_get()
    day = today
    if makeup_date is not None and makeup_date != today:
        if (
            not rule.makeup_enabled
            or makeup_date > today
            or makeup_date < today - timedelta(days=rule.makeup_days)
        ):
            raise SignInMakeupUnavailable(date=makeup_date.isoformat())
        day = makeup_date
    is_makeup = day != today
    streak = _streak_before(member_id, day) + 1
    points = signin_points_for(rule=rule, streak=streak, is_makeup=is_makeup)
    try:
        with transaction.atomic():
            sign_in = SignIn.objects.create(
                member_id=member_id,
                date=day,
                streak=streak,
                points=points,
                is_makeup=is_makeup,
                created_at=now,
            )
            points_earn(
                member_id=member_id,
                points=points,
                source_key=f"signin:{member_id}:{day.isoformat()}",
                note=("补签" if is_makeup else "签到") + f"（连续{streak}天）",
                now=now,
            )
    except IntegrityError as exc:
        if is_makeup:
            raise SignInMakeupUnavailable("该日期已签到", date=day.isoformat()) from exc
        raise AlreadySignedIn(date=day.isoformat()) from exc
    return sign_in


@dataclass(frozen=True)
class SignInCalendar:
    month: str
    days: list[date]
    streak: int
    signed_today: bool
    today_points: int
    makeup_enabled: bool


def signin_calendar(
    *, member_id: int, year: int, month: int, now: datetime | None = None
) -> SignInCalendar:
    """The days signed in a month, the current streak and today's reward (got or to get)."""
    today = timezone.localdate(now or timezone.now())
    first = date(year, month, 1)
    last = date(year, month, calendar.monthrange(year, month)[1])
    days = list(
        SignIn.objects.filter(member_id=member_id, date__range=(first, last))
        .order_by("date")
        .values_list("date", flat=True)
    )
    recent = dict(
        SignIn.objects.filter(
            member_id=member_id, date__in=(today, today - timedelta(days=1))
        ).values_list("date", "streak")
    )
    rule = signin_rule_get()
    signed_today = today in recent
    if signed_today:
        streak = recent[today]
        today_points = (
            SignIn.objects.filter(member_id=member_id, date=today)
            .values_list("points", flat=True)
            .get()
        )
    else:
        streak = recent.get(today - timedelta(days=1), 0)
        today_points = signin_points_for(rule=rule, streak=streak + 1)
    return SignInCalendar(
        month=f"{year:04d}-{month:02d}",
        days=days,
        streak=streak,
        signed_today=signed_today,
        today_points=today_points,
        makeup_enabled=rule.makeup_enabled,
    )
