"""营销活动 in the admin: campaigns with their tiers (满减/满折) or SKUs (限时折扣), status, paid
orders, GMV and discount given (from CampaignUsage rows), and the end-early action. Usage rows
and 限购 counters are read-only (orders write them)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet, Sum
from django.http import HttpRequest
from django.utils import timezone

from mall.errors import CampaignInvalid
from mall.money import yuan

from ..campaign_rules import DEFAULT_COMBINABLE_KINDS
from ..models import Campaign, CampaignItem, CampaignPurchase, CampaignTier, CampaignUsage
from ..services.campaigns import (
    ItemInput,
    TierInput,
    campaign_check_saved,
    campaign_end_early,
    campaign_status,
    campaign_validate,
    campaigns_cache_clear,
)

PAID = Q(usages__status=CampaignUsage.Status.PAID)


class CampaignTierInline(admin.TabularInline):
    model = CampaignTier
    extra = 0
    verbose_name = "满减/满折档位"
    verbose_name_plural = "满减/满折档位"


class CampaignItemInline(admin.TabularInline):
    model = CampaignItem
    extra = 0
    raw_id_fields = ["sku"]
    verbose_name = "限时折扣商品"
    verbose_name_plural = "限时折扣商品"


class CampaignAdminForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = "__all__"  # noqa: DJ007  (the admin's fieldsets choose what is shown)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        kind = data.get("kind", "")
        try:
            # Tiers and items live in the inlines: checked here only for the campaign's own
            # fields (a placeholder tier/item lets the rest of the rules run).
            campaign_validate(
                kind=kind,
                starts_at=data["starts_at"],
                ends_at=data["ends_at"],
                scope=data.get("scope", Campaign.Scope.ALL),
                category_ids=[c.pk for c in data.get("categories") or []],
                product_ids=[p.pk for p in data.get("products") or []],
                combinable_kinds=data.get("combinable_kinds") or [],
                is_repeat=False,
                tiers=[TierInput(1, reduce_fen=1, rate_bp=9000)],
                items=[ItemInput(sku_id=0, price_fen=0)],
                bundle_quantity=data.get("bundle_quantity") or 0,
                bundle_price_fen=data.get("bundle_price_fen") or 0,
                buy_quantity=data.get("buy_quantity") or 0,
                gift_quantity=data.get("gift_quantity") or 0,
            )
        except CampaignInvalid as exc:
            raise forms.ValidationError(exc.message) from exc
        return data


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignAdminForm
    list_display = [
        "name",
        "kind",
        "starts_at",
        "ends_at",
        "status_label",
        "priority",
        "stackable_with_coupons",
        "orders_paid",
        "gmv_yuan",
        "discount_yuan",
    ]
    list_filter = ["kind", "is_active", "scope", "stackable_with_coupons"]
    search_fields = ["name", "description"]
    filter_horizontal = ["categories"]
    raw_id_fields = ["products", "excluded_products", "gift_sku"]
    readonly_fields = ["ended_early_at", "created_at", "updated_at"]
    inlines = [CampaignTierInline, CampaignItemInline]
    actions = ["end_now"]
    fieldsets = [
        (None, {"fields": ["name", "description", "kind", "is_active", "priority"]}),
        ("活动时间", {"fields": ["starts_at", "ends_at", "ended_early_at"]}),
        (
            "适用范围",
            {
                "fields": [
                    "scope",
                    "categories",
                    "products",
                    "excluded_products",
                    "member_level_ids",
                ]
            },
        ),
        (
            "叠加规则",
            {"fields": ["stack_group", "combinable_kinds", "stackable_with_coupons"]},
        ),
        ("满减/满折", {"fields": ["threshold_type", "is_repeat"]}),
        ("N元N件", {"fields": ["bundle_quantity", "bundle_price_fen"]}),
        ("买赠", {"fields": ["buy_quantity", "gift_quantity", "gift_sku"]}),
        ("记录", {"fields": ["created_at", "updated_at"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Campaign]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                orders_total=Count("usages", filter=PAID),
                gmv_total=Sum("usages__goods_fen", filter=PAID),
                discount_total=Sum("usages__discount_fen", filter=PAID),
            )
        )

    def save_model(self, request: HttpRequest, obj: Campaign, form: Any, change: bool) -> None:
        if not change and not obj.combinable_kinds:
            obj.combinable_kinds = sorted(DEFAULT_COMBINABLE_KINDS.get(obj.kind, ()))
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # With its tiers/items saved: a campaign that does not add up is switched off (and
        # pricing sees every change at once: the check clears the cached snapshot).
        problem = campaign_check_saved(campaign_id=form.instance.pk)
        if problem:
            self.message_user(request, f"活动设置有误，已停用：{problem}", messages.WARNING)

    def delete_model(self, request: HttpRequest, obj: Campaign) -> None:
        super().delete_model(request, obj)
        campaigns_cache_clear()

    @admin.display(description="状态")
    def status_label(self, campaign: Campaign) -> str:
        return campaign_status(campaign, now=timezone.now())

    @admin.display(description="支付订单数", ordering="orders_total")
    def orders_paid(self, campaign: Campaign) -> int:
        return campaign.orders_total  # type: ignore[attr-defined]

    @admin.display(description="活动商品 GMV(元)", ordering="gmv_total")
    def gmv_yuan(self, campaign: Campaign) -> str:
        return yuan(campaign.gmv_total or 0)  # type: ignore[attr-defined]

    @admin.display(description="优惠金额(元)", ordering="discount_total")
    def discount_yuan(self, campaign: Campaign) -> str:
        return yuan(campaign.discount_total or 0)  # type: ignore[attr-defined]

    @admin.action(description="提前结束所选活动", permissions=["change"])
    def end_now(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        ended = sum(
            campaign_end_early(campaign_id=pk) for pk in queryset.values_list("pk", flat=True)
        )
        self.message_user(request, f"已提前结束 {ended} 个活动", messages.SUCCESS)


@admin.register(CampaignUsage)
class CampaignUsageAdmin(admin.ModelAdmin):
    list_display = [
        "order_no",
        "campaign",
        "member",
        "discount_yuan",
        "goods_yuan",
        "status",
        "created_at",
    ]
    list_filter = ["status", "campaign__kind"]
    search_fields = ["order_no", "campaign__name"]
    list_select_related = ["campaign", "member"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="优惠(元)", ordering="discount_fen")
    def discount_yuan(self, usage: CampaignUsage) -> str:
        return yuan(usage.discount_fen)

    @admin.display(description="活动商品金额(元)", ordering="goods_fen")
    def goods_yuan(self, usage: CampaignUsage) -> str:
        return yuan(usage.goods_fen)


@admin.register(CampaignPurchase)
class CampaignPurchaseAdmin(admin.ModelAdmin):
    list_display = ["campaign", "member", "sku", "quantity"]
    search_fields = ["campaign__name", "member__nickname"]
    list_select_related = ["campaign", "member", "sku"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
