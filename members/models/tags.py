"""Member tags (标签) and segments: manual ones set by the merchant, automatic ones recomputed by a
beat task from paid orders (shop.lifecycle.member_tags.tags_auto_refresh)."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from .member import Member


class Tag(models.Model):
    class Kind(models.TextChoices):
        MANUAL = "manual", "手动"
        AUTO = "auto", "自动"

    class AutoCode(models.TextChoices):
        NEW = "new", "新会员"
        ACTIVE_30D = "active_30d", "近30天活跃"
        DORMANT_90D = "dormant_90d", "沉睡90天"
        HIGH_VALUE = "high_value", "高价值"

    name = models.CharField("名称", max_length=40, unique=True)
    kind = models.CharField("类型", max_length=10, choices=Kind.choices, default=Kind.MANUAL)
    # Only automatic tags have a code: the rule that computes them.
    code = models.CharField(
        "规则", max_length=20, choices=AutoCode.choices, null=True, blank=True, unique=True
    )
    description = models.CharField("说明", max_length=200, blank=True)
    created_at = models.DateTimeField("创建时间", default=timezone.now)

    class Meta:
        verbose_name = "会员标签"
        verbose_name_plural = "会员标签"
        ordering = ["kind", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="manual", code__isnull=True) | Q(kind="auto", code__isnull=False),
                name="tag_auto_has_code",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class MemberTag(models.Model):
    class Source(models.TextChoices):
        MANUAL = "manual", "手动"
        AUTO = "auto", "自动"

    member = models.ForeignKey(
        Member, verbose_name="会员", on_delete=models.CASCADE, related_name="member_tags"
    )
    tag = models.ForeignKey(
        Tag, verbose_name="标签", on_delete=models.CASCADE, related_name="member_tags"
    )
    source = models.CharField("来源", max_length=10, choices=Source.choices)
    created_at = models.DateTimeField("打标时间", default=timezone.now)

    class Meta:
        verbose_name = "会员标签关系"
        verbose_name_plural = "会员标签关系"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["member", "tag"], name="member_tag_unique"),
        ]
        # (tag, member): "the members of a tag" in member order, for keyset-paginated targeting.
        indexes = [models.Index(fields=["tag", "member"], name="member_tag_by_tag")]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.tag_id}"
