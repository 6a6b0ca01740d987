"""积分商城 in the admin: items (stock and exchanged counts) and the exchanges (read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest

from mall.money import yuan

from ..models import PointsMallExchange, PointsMallItem


@admin.register(PointsMallItem)
class PointsMallItemAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "kind",
        "points",
        "cash_yuan",
        "stock",
        "per_member_limit",
        "exchanged_count",
        "exchanges_done",
        "is_active",
        "sort_order",
    ]
    list_filter = ["kind", "is_active"]
    list_editable = ["is_active", "sort_order"]
    search_fields = ["title", "sku__code", "sku__product__title"]
    list_select_related = ["sku", "coupon_template"]
    raw_id_fields = ["sku", "coupon_template"]
    readonly_fields = ["exchanged_count", "created_at"]
    fieldsets = [
        (None, {"fields": ["title", "kind", "is_active", "sort_order"]}),
        ("兑换内容（商品填 SKU，优惠券填模板）", {"fields": ["sku", "coupon_template"]}),
        ("价格与库存", {"fields": ["points", "cash_fen", "stock", "per_member_limit"]}),
        ("统计", {"fields": ["exchanged_count", "created_at"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[PointsMallItem]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                done_total=Count(
                    "exchanges", filter=Q(exchanges__status=PointsMallExchange.Status.DONE)
                )
            )
        )

    @admin.display(description="加钱(元)", ordering="cash_fen")
    def cash_yuan(self, item: PointsMallItem) -> str:
        return yuan(item.cash_fen)

    @admin.display(description="已完成兑换", ordering="done_total")
    def exchanges_done(self, item: PointsMallItem) -> int:
        return item.done_total  # type: ignore[attr-defined]


@admin.register(PointsMallExchange)
class PointsMallExchangeAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "member",
        "item",
        "quantity",
        "points",
        "cash_fen",
        "status",
        "order_no",
        "coupon",
        "created_at",
    ]
    list_filter = ["status", "item"]
    search_fields = ["member__nickname", "member__phone", "order_no"]
    list_select_related = ["member", "item", "coupon"]
    readonly_fields = [
        "member",
        "item",
        "quantity",
        "points",
        "cash_fen",
        "status",
        "order_id",
        "order_no",
        "coupon",
        "created_at",
    ]
    exclude = ["client_token"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
