"""会员等级、积分、签到、任务卡 in the admin: the merchant configures levels, the sign-in rule and
the task cards; ledgers and logs are read-only (points move only through services)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest

from ..models import (
    GrowthLog,
    LevelChangeLog,
    MemberLevel,
    PointsLedger,
    PointsLot,
    SignIn,
    SignInRule,
    TaskCard,
    TaskCompletion,
)
from ..tasks import member_levels_recompute_task


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _levels_recompute_on_commit() -> None:
    transaction.on_commit(member_levels_recompute_task.delay, robust=True)


@admin.register(MemberLevel)
class MemberLevelAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "growth_threshold",
        "discount_bp",
        "discount_label",
        "points_multiplier_bp",
        "free_shipping",
        "birthday_coupon_template_id",
        "member_count",
    ]
    ordering = ["growth_threshold"]
    fieldsets = [
        (None, {"fields": ["name", "growth_threshold"]}),
        (
            "权益",
            {
                "fields": [
                    "discount_bp",
                    "points_multiplier_bp",
                    "free_shipping",
                    "birthday_coupon_template_id",
                ],
                "description": "折扣万分比：9500 = 95折（商品金额，不含秒杀/拼团/积分商城特价）；"
                "积分倍率万分比：15000 = 1.5 倍。包邮与生日券暂仅记录（运费由订单计价、"
                "生日券由营销旅程发放）。修改门槛后，全部会员的等级会在后台重新计算。",
            },
        ),
    ]

    @admin.display(description="折扣")
    def discount_label(self, level: MemberLevel) -> str:
        return level.discount_label

    @admin.display(description="会员数")
    def member_count(self, level: MemberLevel) -> int:
        return level.members.count()

    def save_model(self, request: HttpRequest, obj: MemberLevel, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        _levels_recompute_on_commit()

    def delete_model(self, request: HttpRequest, obj: MemberLevel) -> None:
        super().delete_model(request, obj)
        _levels_recompute_on_commit()


@admin.register(SignInRule)
class SignInRuleAdmin(admin.ModelAdmin):
    list_display = [
        "base_points",
        "streak_days",
        "streak_bonus_points",
        "makeup_enabled",
        "makeup_days",
        "updated_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not SignInRule.objects.exists()  # one rule: the first row is in force


@admin.register(TaskCard)
class TaskCardAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "points", "is_active", "sort", "done_count"]
    list_editable = ["points", "is_active", "sort"]
    list_filter = ["is_active"]

    @admin.display(description="完成人数")
    def done_count(self, task: TaskCard) -> int:
        return task.completions.count()


@admin.register(TaskCompletion)
class TaskCompletionAdmin(ReadOnlyAdmin):
    list_display = ["id", "member", "task", "points", "completed_at"]
    list_filter = ["task"]
    list_select_related = ["member", "task"]
    search_fields = ["member__nickname", "member__phone"]


@admin.register(PointsLedger)
class PointsLedgerAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "member",
        "kind",
        "points",
        "balance_after",
        "reference",
        "note",
        "operator",
        "created_at",
    ]
    list_filter = ["kind", "created_at"]
    list_select_related = ["member"]
    search_fields = ["reference", "member__nickname", "member__phone"]


@admin.register(PointsLot)
class PointsLotAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "member",
        "source_key",
        "status",
        "points",
        "remaining",
        "reversed_points",
        "earned_at",
        "vests_at",
        "expires_at",
    ]
    list_filter = ["status", "expires_at"]
    list_select_related = ["member"]
    search_fields = ["source_key", "order_no", "member__nickname", "member__phone"]


@admin.register(GrowthLog)
class GrowthLogAdmin(ReadOnlyAdmin):
    list_display = ["id", "member", "kind", "amount_fen", "growth", "growth_after", "reference"]
    list_filter = ["kind"]
    list_select_related = ["member"]
    search_fields = ["reference", "member__nickname", "member__phone"]


@admin.register(LevelChangeLog)
class LevelChangeLogAdmin(ReadOnlyAdmin):
    list_display = ["id", "member", "from_level", "to_level", "growth", "reference", "created_at"]
    list_filter = ["to_level"]
    list_select_related = ["member", "from_level", "to_level"]
    search_fields = ["member__nickname", "member__phone"]


@admin.register(SignIn)
class SignInAdmin(ReadOnlyAdmin):
    list_display = ["id", "member", "date", "streak", "points", "is_makeup", "created_at"]
    list_filter = ["date", "is_makeup"]
    list_select_related = ["member"]
    search_fields = ["member__nickname", "member__phone"]
