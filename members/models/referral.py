"""Referral (转介绍): each member's invite code, and who invited whom."""

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from .member import Member


class InviteCode(models.Model):
    """A member's own invite code, made on first request (GET /me/invite)."""

    member = models.OneToOneField(
        Member, verbose_name="会员", on_delete=models.CASCADE, related_name="invite_code"
    )
    code = models.CharField("邀请码", max_length=16, unique=True)
    created_at = models.DateTimeField("创建时间", default=timezone.now)

    class Meta:
        verbose_name = "邀请码"
        verbose_name_plural = "邀请码"

    def __str__(self) -> str:
        return self.code


class Referral(models.Model):
    """The invitee was brought by the inviter: one inviter per member (invitee unique), bound at
    the invitee's first login. Rewarded once, when the invitee's first paid order is past the
    after-sales window; cancelled when that order was refunded."""

    class Status(models.TextChoices):
        PENDING = "pending", "待奖励"
        REWARDED = "rewarded", "已奖励"
        CANCELLED = "cancelled", "已取消"

    invitee = models.OneToOneField(
        Member, verbose_name="被邀请人", on_delete=models.CASCADE, related_name="referral"
    )
    inviter = models.ForeignKey(
        Member, verbose_name="邀请人", on_delete=models.CASCADE, related_name="referrals_made"
    )
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.PENDING)
    order_no = models.CharField("首单号", max_length=32, blank=True)
    inviter_points = models.PositiveIntegerField("邀请人奖励积分", default=0)
    invitee_points = models.PositiveIntegerField("被邀请人奖励积分", default=0)
    note = models.CharField("说明", max_length=200, blank=True)
    created_at = models.DateTimeField("绑定时间", default=timezone.now)
    settled_at = models.DateTimeField("结算时间", null=True, blank=True)

    class Meta:
        verbose_name = "转介绍"
        verbose_name_plural = "转介绍"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(invitee=F("inviter")), name="referral_no_self"),
        ]
        indexes = [
            models.Index(
                fields=["invitee"], condition=Q(status="pending"), name="referral_pending"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.inviter_id} → {self.invitee_id}"
