"""自动营销 in the admin: replenish rules with their sent / coupon-used counts, and the sends."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest

from ..models import Coupon, JourneySend, ReplenishRule


@admin.register(ReplenishRule)
class ReplenishRuleAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "product",
        "category",
        "cycle_days",
        "coupon_template",
        "send_message",
        "is_active",
        "sent_count",
        "used_count",
        "used_rate",
    ]
    list_filter = ["is_active", "send_message"]
    search_fields = ["name", "product__title", "category__name"]
    list_select_related = ["product", "category", "coupon_template"]
    autocomplete_fields = ["product"]
    raw_id_fields = ["category", "coupon_template"]
    fieldsets = [
        (None, {"fields": ["name", "is_active"]}),
        ("适用范围（商品与分类二选一）", {"fields": ["product", "category"]}),
        ("提醒", {"fields": ["cycle_days", "coupon_template", "send_message"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ReplenishRule]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                sends_total=Count("sends"),
                sends_used=Count("sends", filter=Q(sends__coupon__status=Coupon.Status.USED)),
            )
        )

    @admin.display(description="已发送", ordering="sends_total")
    def sent_count(self, rule: ReplenishRule) -> int:
        return rule.sends_total  # type: ignore[attr-defined]

    @admin.display(description="券已使用", ordering="sends_used")
    def used_count(self, rule: ReplenishRule) -> int:
        return rule.sends_used  # type: ignore[attr-defined]

    @admin.display(description="使用率")
    def used_rate(self, rule: ReplenishRule) -> str:
        total = rule.sends_total  # type: ignore[attr-defined]
        return f"{rule.sends_used * 100 / total:.1f}%" if total else "-"  # type: ignore[attr-defined]


@admin.register(JourneySend)
class JourneySendAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "member",
        "rule",
        "order_line_id",
        "coupon",
        "coupon_status",
        "message_sent",
        "sent_at",
    ]
    list_filter = ["kind", "message_sent", "rule", "sent_at"]
    search_fields = ["member__nickname", "member__phone"]
    list_select_related = ["member", "rule", "coupon"]
    readonly_fields = [
        "kind",
        "member",
        "rule",
        "order_line_id",
        "period_key",
        "coupon",
        "message_sent",
        "sent_at",
    ]

    @admin.display(description="券状态")
    def coupon_status(self, send: JourneySend) -> str:
        return send.coupon.get_status_display() if send.coupon_id else "-"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
