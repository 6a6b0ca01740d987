from django.db import models
from django.utils import timezone


class Member(models.Model):
    """A shopper, known by the openid WeChat gives our mini-program. Staff are Django users."""

    openid = models.CharField("OpenID", max_length=64, unique=True)
    unionid = models.CharField("UnionID", max_length=64, null=True, blank=True, unique=True)
    nickname = models.CharField("昵称", max_length=64, blank=True)
    avatar_url = models.URLField("头像", max_length=500, blank=True)
    phone = models.CharField("手机号", max_length=20, blank=True, db_index=True)
    # Set once by the shopper (a birthday coupon each year must not be farmed by editing it).
    birthday = models.DateField("生日", null=True, blank=True)
    session_key = models.CharField(max_length=64, blank=True, editable=False)
    points_balance = models.PositiveIntegerField("积分", default=0)
    balance_fen = models.PositiveBigIntegerField("储值余额(分)", default=0)
    growth = models.PositiveBigIntegerField("成长值", default=0)
    level = models.ForeignKey(
        "members.MemberLevel",
        verbose_name="会员等级",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="members",
    )
    is_active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField("注册时间", default=timezone.now, db_index=True)
    last_login_at = models.DateTimeField("最近登录", null=True, blank=True)

    class Meta:
        verbose_name = "会员"
        verbose_name_plural = "会员"
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.nickname or self.phone or self.openid

    # DRF's IsAuthenticated reads this from request.user.
    @property
    def is_authenticated(self) -> bool:
        return True


class MemberToken(models.Model):
    """An API token issued at login. Only its SHA-256 is stored, so a database leak is no login."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = "登录令牌"
        verbose_name_plural = "登录令牌"

    def __str__(self) -> str:
        return f"token of member {self.member_id}"


class SubscribeMessage(models.Model):
    """One subscribe message (订阅消息) to a member, kept so sending is idempotent and visible."""

    class Status(models.TextChoices):
        PENDING = "pending", "待发送"
        SENDING = "sending", "发送中"
        SENT = "sent", "已发送"
        REFUSED = "refused", "用户拒收"
        FAILED = "failed", "失败"

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="subscribe_messages")
    template_key = models.CharField("模板", max_length=40)
    page = models.CharField("跳转页面", max_length=200, blank=True)
    data = models.JSONField("内容")
    dedup_key = models.CharField(max_length=120, null=True, blank=True, unique=True)
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField("尝试次数", default=0)
    last_error = models.CharField("最近错误", max_length=200, blank=True)
    created_at = models.DateTimeField("创建时间", default=timezone.now)
    sent_at = models.DateTimeField("发送时间", null=True, blank=True)

    class Meta:
        verbose_name = "订阅消息"
        verbose_name_plural = "订阅消息"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.template_key} → {self.member_id} ({self.status})"
