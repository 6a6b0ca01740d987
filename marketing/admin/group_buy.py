"""拼团 in the admin: campaigns with their groups forming/formed/failed and GMV; groups with
their members (read-only: seats, payments and refunds change only through the services)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet, Sum
from django.http import HttpRequest

from mall.money import yuan

from ..models import Group, GroupBuyCampaign, GroupMember
from ..services.group_buy import group_buy_campaign_end


@admin.register(GroupBuyCampaign)
class GroupBuyCampaignAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "sku",
        "group_price_yuan",
        "size",
        "form_hours",
        "starts_at",
        "ends_at",
        "is_active",
        "auto_complete_with_virtual",
        "groups_forming",
        "groups_formed",
        "groups_failed",
        "gmv_yuan",
    ]
    list_filter = ["is_active", "auto_complete_with_virtual"]
    search_fields = ["name", "sku__code", "sku__product__title"]
    list_select_related = ["sku", "sku__product"]
    raw_id_fields = ["sku"]
    readonly_fields = ["created_at"]
    actions = ["end_now"]
    fieldsets = [
        (None, {"fields": ["name", "sku", "is_active"]}),
        (
            "拼团规则",
            {"fields": ["group_price_fen", "size", "form_hours", "auto_complete_with_virtual"]},
        ),
        ("活动时间", {"fields": ["starts_at", "ends_at", "created_at"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[GroupBuyCampaign]:
        formed = Q(groups__status=Group.Status.FORMED)
        return (
            super()
            .get_queryset(request)
            .annotate(
                forming_total=Count(
                    "groups", filter=Q(groups__status=Group.Status.FORMING), distinct=True
                ),
                formed_total=Count("groups", filter=formed, distinct=True),
                failed_total=Count(
                    "groups", filter=Q(groups__status=Group.Status.FAILED), distinct=True
                ),
                gmv_total=Sum(
                    "groups__members__payable_fen",
                    filter=formed & Q(groups__members__status=GroupMember.Status.PAID),
                ),
            )
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is not None and obj.groups.exists():
            # Groups copied the size and sold this SKU: changing them would rewrite history.
            return [*self.readonly_fields, "sku", "size"]
        return list(self.readonly_fields)

    @admin.display(description="拼团价(元)", ordering="group_price_fen")
    def group_price_yuan(self, campaign: GroupBuyCampaign) -> str:
        return yuan(campaign.group_price_fen)

    @admin.display(description="拼团中", ordering="forming_total")
    def groups_forming(self, campaign: GroupBuyCampaign) -> int:
        return campaign.forming_total  # type: ignore[attr-defined]

    @admin.display(description="已成团", ordering="formed_total")
    def groups_formed(self, campaign: GroupBuyCampaign) -> int:
        return campaign.formed_total  # type: ignore[attr-defined]

    @admin.display(description="已失败", ordering="failed_total")
    def groups_failed(self, campaign: GroupBuyCampaign) -> int:
        return campaign.failed_total  # type: ignore[attr-defined]

    @admin.display(description="成交额(元)", ordering="gmv_total")
    def gmv_yuan(self, campaign: GroupBuyCampaign) -> str:
        return yuan(campaign.gmv_total or 0)  # type: ignore[attr-defined]

    @admin.action(description="立即结束所选活动（已开的团照常进行）", permissions=["change"])
    def end_now(self, request: HttpRequest, queryset: QuerySet[GroupBuyCampaign]) -> None:
        ended = sum(
            group_buy_campaign_end(campaign_id=pk) for pk in queryset.values_list("pk", flat=True)
        )
        self.message_user(request, f"已结束 {ended} 个活动", messages.SUCCESS)


class GroupMemberInline(admin.TabularInline):
    model = GroupMember
    extra = 0
    can_delete = False
    fields = ["member", "is_leader", "status", "order_no", "payable_yuan", "joined_at", "paid_at"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="应付(元)")
    def payable_yuan(self, seat: GroupMember) -> str:
        return yuan(seat.payable_fen)


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "campaign",
        "leader",
        "status",
        "seats_display",
        "virtual_seats",
        "expires_at",
        "formed_at",
        "failed_at",
        "created_at",
    ]
    list_filter = ["status", "campaign"]
    search_fields = ["=id", "leader__nickname", "leader__phone", "members__order_no"]
    search_help_text = "按团号、团长昵称/手机号或成员订单号搜索"
    list_select_related = ["campaign", "leader"]
    date_hierarchy = "created_at"
    inlines = [GroupMemberInline]
    fields = [
        "campaign",
        "leader",
        "status",
        "size",
        "seats_taken",
        "seats_paid",
        "virtual_seats",
        "expires_at",
        "formed_at",
        "failed_at",
        "created_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a group is opened by its leader's order

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # seats are tied to paid orders and refunds

    @admin.display(description="已付/已占/人数")
    def seats_display(self, group: Group) -> str:
        return f"{group.seats_paid}/{group.seats_taken}/{group.size}"
