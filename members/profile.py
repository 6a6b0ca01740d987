"""The shopper's own profile: nickname, avatar, birthday (set once)."""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.utils import timezone

from mall.errors import BirthdayLocked, ProfileInvalid

from .models import Member
from .task_cards import task_complete

_UNSET = object()


@transaction.atomic
def member_profile_update(
    *,
    member_id: int,
    nickname: str | None = None,
    avatar_url: str | None = None,
    birthday: date | None = None,
) -> Member:
    """Change what is given (None: unchanged). The birthday can be set once: it decides the
    yearly birthday coupon. A complete profile (nickname, avatar, phone) completes its task card.

    Raises: BirthdayLocked (already set to another date), ProfileInvalid (a birthday in the future).
    """
    member = Member.objects.select_for_update().get(pk=member_id)
    changed = []
    if nickname is not None and nickname != member.nickname:
        member.nickname = nickname
        changed.append("nickname")
    if avatar_url is not None and avatar_url != member.avatar_url:
        member.avatar_url = avatar_url
        changed.append("avatar_url")
    if birthday is not None and birthday != member.birthday:
        if member.birthday is not None:
            raise BirthdayLocked(birthday=member.birthday.isoformat())
        if birthday > timezone.localdate():
            raise ProfileInvalid("生日不能晚于今天", field="birthday")
        member.birthday = birthday
        changed.append("birthday")
    if changed:
        member.save(update_fields=changed)
    if member.nickname and member.avatar_url and member.phone:
        task_complete(member_id=member.pk, code="complete_profile")
    return member
