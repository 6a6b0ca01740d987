"""Reads of the members app for other apps: batch jobs, payments, the admin dashboard."""

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from functools import reduce
from operator import or_

from django.db.models import Q

from .models import Member, SignIn


def member_id_max() -> int:
    """The highest member id (0 without members): batch jobs walk member-id ranges up to it."""
    return Member.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def member_count() -> int:
    return Member.objects.count()


def member_ids_active(*, member_ids: Iterable[int]) -> set[int]:
    """Those of these members that are active (not disabled). One query."""
    return set(
        Member.objects.filter(pk__in=list(member_ids), is_active=True).values_list("pk", flat=True)
    )


def member_balance_fen_get(*, member_id: int) -> int:
    """The member's stored-value balance as it is now. Raises: Member.DoesNotExist."""
    return Member.objects.values_list("balance_fen", flat=True).get(pk=member_id)


def member_ids_existing(*, member_ids: Iterable[int]) -> set[int]:
    """Those of these member ids that exist (one query)."""
    return set(Member.objects.filter(pk__in=member_ids).values_list("pk", flat=True))


def members_with_birthday_coupon(
    *, days: Sequence[tuple[int, int]], after_member_id: int, limit: int
) -> list[tuple[int, int]]:
    """(member id, their level's birthday coupon template id) of the next `limit` members by id
    after `after_member_id` whose birthday (month, day) is one of `days` and whose level gives a
    birthday coupon (one query)."""
    born = reduce(or_, (Q(birthday__month=month, birthday__day=day) for month, day in days))
    return list(
        Member.objects.filter(born, level__birthday_coupon_template_id__isnull=False)
        .filter(pk__gt=after_member_id)
        .order_by("pk")
        .values_list("pk", "level__birthday_coupon_template_id")[:limit]
    )


def member_exists(*, member_id: int) -> bool:
    """Whether there is such a member (one query)."""
    return Member.objects.filter(pk=member_id).exists()


def members_dashboard_figures(*, since: datetime, today: date) -> dict[str, int]:
    """Members at a glance for the admin dashboard: joined since `since`, signed in `today`."""
    return {
        "members_new_today": Member.objects.filter(created_at__gte=since).count(),
        "signins_today": SignIn.objects.filter(date=today).count(),
    }
