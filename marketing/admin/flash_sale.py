"""秒杀 admin: sessions with their items inline (sold, remaining, GMV), ending a session early
(its unsold units go back to the SKUs), and the orders' takes (read-only)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import F, QuerySet, Sum
from django.http import HttpRequest
from django.utils import timezone

from mall.errors import DomainError
from mall.money import yuan

from ..models import FlashItem, FlashPurchase, FlashSession
from ..services import flash_sale as services


class FlashItemForm(forms.ModelForm):
    class Meta:
        model = FlashItem
        fields = ["sku", "flash_price_fen", "total_stock", "per_member_limit", "sort_order"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        item = self.instance
        # Once carved out of the SKU, the units are moved only by the services.
        if item.pk and item.status != FlashItem.Status.DRAFT:
            for field in ("sku", "total_stock"):
                if field in self.changed_data:
                    self.add_error(field, "秒杀商品已生效，不能修改 SKU 或秒杀总量")
        sku, price = data.get("sku"), data.get("flash_price_fen")
        if sku is not None and price is not None and price >= sku.price_fen:
            self.add_error("flash_price_fen", "秒杀价须低于 SKU 售价")
        return data


class FlashItemInline(admin.TabularInline):
    model = FlashItem
    form = FlashItemForm
    extra = 0
    raw_id_fields = ["sku"]
    fields = [
        "sku",
        "flash_price_fen",
        "total_stock",
        "per_member_limit",
        "sort_order",
        "status",
        "flash_stock",
        "sold",
        "gmv",
    ]
    readonly_fields = ["status", "flash_stock", "sold", "gmv"]

    @admin.display(description="成交额(元)")
    def gmv(self, item: FlashItem) -> str:
        return yuan(item.sold * item.flash_price_fen) if item.pk else "-"


@admin.register(FlashSession)
class FlashSessionAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "name",
        "starts_at",
        "ends_at",
        "status_label",
        "item_count",
        "total_units",
        "sold_units",
        "remaining_units",
        "gmv",
    ]
    list_filter = ["is_active", "starts_at"]
    search_fields = ["name"]
    date_hierarchy = "starts_at"
    readonly_fields = ["closed_at", "created_at"]
    inlines = [FlashItemInline]
    actions = ["end_sessions"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[FlashSession]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                _total=Sum("items__total_stock"),
                _sold=Sum("items__sold"),
                _left=Sum("items__flash_stock"),
                _gmv=Sum(F("items__sold") * F("items__flash_price_fen")),
            )
        )

    @admin.display(description="状态")
    def status_label(self, session: FlashSession) -> str:
        return {"upcoming": "未开始", "ongoing": "进行中", "ended": "已结束"}[
            services.flash_session_status(session, timezone.now())
        ]

    @admin.display(description="商品数")
    def item_count(self, session: FlashSession) -> int:
        return session.items.count()

    @admin.display(description="秒杀总量")
    def total_units(self, session: Any) -> int:
        return session._total or 0

    @admin.display(description="已售(已支付)")
    def sold_units(self, session: Any) -> int:
        return session._sold or 0

    @admin.display(description="剩余")
    def remaining_units(self, session: Any) -> int:
        return session._left or 0

    @admin.display(description="成交额(元)")
    def gmv(self, session: Any) -> str:
        return yuan(session._gmv or 0)

    def save_model(self, request: HttpRequest, obj: FlashSession, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change:  # times or switch changed: the items' Redis counters follow
            for item_id in obj.items.values_list("pk", flat=True):
                services.flash_item_saved(item_id=item_id)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """New items are saved as drafts, then activated by the service (units carved out of
        the SKU, logged); changed items get their Redis counters reloaded."""
        super().save_formset(request, form, formset, change)
        if formset.model is not FlashItem:
            return
        for item in formset.new_objects + [obj for obj, _ in formset.changed_objects]:
            if item.status == FlashItem.Status.DRAFT:
                try:
                    services.flash_item_activate(
                        item_id=item.pk, operator=f"admin:{request.user.pk}"
                    )
                except DomainError as exc:
                    self.message_user(
                        request, f"SKU {item.sku_id} 未生效：{exc.message}", messages.ERROR
                    )
            else:
                services.flash_item_saved(item_id=item.pk)

    @admin.action(description="结束所选场次并退回未售库存", permissions=["change"])
    def end_sessions(self, request: HttpRequest, queryset: QuerySet[FlashSession]) -> None:
        returned = sum(
            services.flash_session_end(session_id=pk, operator=f"admin:{request.user.pk}")
            for pk in queryset.values_list("pk", flat=True)
        )
        self.message_user(request, f"已结束，{returned} 件未售库存退回 SKU")


@admin.register(FlashPurchase)
class FlashPurchaseAdmin(admin.ModelAdmin):
    list_display = ["id", "order_no", "item", "member", "quantity", "status", "created_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["order_no", "member__nickname", "member__phone"]
    list_select_related = ["item", "member"]
    readonly_fields = [f.name for f in FlashPurchase._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
