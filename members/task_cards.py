"""Task cards (任务卡): each task rewarded once per member, triggered where the event happens
(phone bound: members.services; first order paid: the paid hook; invite: referral)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction

from .models import Member, TaskCard, TaskCompletion
from .points import points_earn

# Default definitions, created by `task_cards_ensure` (the demo seeder; the merchant edits them in
# the admin). first_review: no reviews exist yet, so nothing completes it for now.
DEFAULT_TASKS = (
    ("complete_profile", "完善资料", "设置头像、昵称并绑定手机号", 20),
    ("bind_phone", "绑定手机号", "授权绑定手机号", 20),
    ("first_order", "首次下单", "完成第一笔订单支付", 50),
    ("first_review", "首次评价", "发表第一条商品评价", 20),
    ("invite_friend", "邀请好友", "邀请的好友完成首单", 50),
)


def task_cards_ensure() -> int:
    """Create the default task definitions that do not exist (safe to run twice)."""
    created = 0
    for sort, (code, name, description, points) in enumerate(DEFAULT_TASKS):
        _, made = TaskCard.objects.get_or_create(
            code=code,
            defaults={"name": name, "description": description, "points": points, "sort": sort},
        )
        created += made
    return created


FIRST_ORDER = "first_order"


def task_complete(*, member_id: int, code: str) -> bool:
    """Mark the member's task done and give its points, once (unique (member, task)); an
    inactive or unknown task completes nothing. In the caller's transaction. Returns whether
    this call completed it."""
    task = TaskCard.objects.filter(code=code, is_active=True).first()
    if task is None:
        return False
    if TaskCompletion.objects.filter(member_id=member_id, task=task).exists():
        return False  # the usual case on the paid path: one read, no savepoint
    try:
        with transaction.atomic():
            TaskCompletion.objects.create(member_id=member_id, task=task, points=task.points)
            points_earn(
                member_id=member_id,
                points=task.points,
                source_key=f"task:{code}:{member_id}",
                note=f"任务：{task.name}",
            )
    except IntegrityError:
        return False
    return True


def task_profile_check(*, member: Member) -> bool:
    """complete_profile is done when nickname, avatar and phone are all set."""
    if member.nickname and member.avatar_url and member.phone:
        return task_complete(member_id=member.pk, code="complete_profile")
    return False


@dataclass(frozen=True)
class TaskStatus:
    code: str
    name: str
    description: str
    points: int
    done: bool
    done_at: datetime | None


def task_list_for_member(*, member_id: int) -> list[TaskStatus]:
    """The active tasks with the member's progress (two queries)."""
    done = dict(
        TaskCompletion.objects.filter(member_id=member_id).values_list("task_id", "completed_at")
    )
    return [
        TaskStatus(
            code=task.code,
            name=task.name,
            description=task.description,
            points=task.points,
            done=task.pk in done,
            done_at=done.get(task.pk),
        )
        for task in TaskCard.objects.filter(is_active=True).order_by("sort", "id")
    ]
