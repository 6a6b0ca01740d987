"""Daily sign-in (签到): one row per member per Beijing date."""

from django.db import models
from django.utils import timezone


class SignInRule(models.Model):
    """The sign-in rule; the first row is the one in force (none: these defaults)."""

    base_points = models.PositiveIntegerField("每日签到积分", default=5)
    streak_days = models.PositiveSmallIntegerField("连续签到天数", default=7)
    streak_bonus_points = models.PositiveIntegerField("连续签到奖励积分", default=20)
    makeup_enabled = models.BooleanField("允许补签", default=False)
    makeup_days = models.PositiveSmallIntegerField("可补签天数", default=7)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "签到规则"
        verbose_name_plural = "签到规则"

    def __str__(self) -> str:
        return f"每日{self.base_points}分，连续{self.streak_days}天加{self.streak_bonus_points}分"


class SignIn(models.Model):
    member = models.ForeignKey(
        "members.Member", verbose_name="会员", on_delete=models.CASCADE, related_name="sign_ins"
    )
    date = models.DateField("签到日期")
    streak = models.PositiveIntegerField("连续天数", default=1)
    points = models.PositiveIntegerField("获得积分", default=0)
    is_makeup = models.BooleanField("补签", default=False)
    created_at = models.DateTimeField("时间", default=timezone.now)

    class Meta:
        verbose_name = "签到记录"
        verbose_name_plural = "签到记录"
        ordering = ["-date"]
        constraints = [
            models.UniqueConstraint(fields=["member", "date"], name="sign_in_member_date")
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.date}"
