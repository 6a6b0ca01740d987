"""Task cards (任务卡): simple one-time tasks rewarded with points."""

from django.db import models
from django.utils import timezone


class TaskCard(models.Model):
    class Code(models.TextChoices):
        COMPLETE_PROFILE = "complete_profile", "完善资料"
        BIND_PHONE = "bind_phone", "绑定手机号"
        FIRST_ORDER = "first_order", "首次下单"
        FIRST_REVIEW = "first_review", "首次评价"
        INVITE_FRIEND = "invite_friend", "邀请好友"

    code = models.CharField("任务", max_length=30, choices=Code.choices, unique=True)
    name = models.CharField("名称", max_length=40)
    description = models.CharField("说明", max_length=200, blank=True)
    points = models.PositiveIntegerField("奖励积分")
    is_active = models.BooleanField("启用", default=True)
    sort = models.PositiveSmallIntegerField("排序", default=0)

    class Meta:
        verbose_name = "任务卡"
        verbose_name_plural = "任务卡"
        ordering = ["sort", "id"]

    def __str__(self) -> str:
        return self.name


class TaskCompletion(models.Model):
    member = models.ForeignKey(
        "members.Member",
        verbose_name="会员",
        on_delete=models.CASCADE,
        related_name="task_completions",
    )
    task = models.ForeignKey(
        TaskCard, verbose_name="任务", on_delete=models.PROTECT, related_name="completions"
    )
    points = models.PositiveIntegerField("奖励积分")
    completed_at = models.DateTimeField("完成时间", default=timezone.now)

    class Meta:
        verbose_name = "任务完成记录"
        verbose_name_plural = "任务完成记录"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["member", "task"], name="task_completion_member_task")
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.task_id}"
