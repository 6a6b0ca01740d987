"""An order's read-only inlines: what was bought, and the timeline of its status log."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from ..models import OrderLine, OrderStatusLog
from .desk import money, status_label

THUMB_STYLE = "height:40px;width:40px;object-fit:cover;border-radius:4px"


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Part of the order: whoever may see the order sees its lines and timeline.
        return request.user.has_perm("orders.view_order") or request.user.has_perm(
            "orders.change_order"
        )


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    verbose_name = "商品"
    verbose_name_plural = "商品"
    fields = [
        "image",
        "title",
        "spec_text",
        "unit_price",
        "quantity",
        "discount",
        "paid",
        "refunded_quantity",
        "refunded",
    ]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrderLine]:
        return super().get_queryset(request).order_by("id")

    @admin.display(description="图片")
    def image(self, line: OrderLine) -> str:
        if not line.image_url:
            return "—"
        return format_html('<img src="{}" style="{}" alt="">', line.image_url, THUMB_STYLE)

    @admin.display(description="单价")
    def unit_price(self, line: OrderLine) -> str:
        return money(line.unit_price_fen)

    @admin.display(description="优惠分摊")
    def discount(self, line: OrderLine) -> str:
        return f"-{money(line.discount_fen)}" if line.discount_fen else "—"

    @admin.display(description="实付")
    def paid(self, line: OrderLine) -> str:
        return money(line.paid_fen)

    @admin.display(description="已退金额")
    def refunded(self, line: OrderLine) -> str:
        return money(line.refunded_fen) if line.refunded_fen else "—"


class OrderStatusLogInline(ReadOnlyInline):
    model = OrderStatusLog
    verbose_name = "状态记录"
    verbose_name_plural = "订单时间线"
    fields = ["created_at", "from_label", "to_label", "actor", "note"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrderStatusLog]:
        return super().get_queryset(request).order_by("id")

    @admin.display(description="原状态")
    def from_label(self, log: OrderStatusLog) -> str:
        return status_label(log.from_status) if log.from_status else "—"

    @admin.display(description="新状态")
    def to_label(self, log: OrderStatusLog) -> str:
        return status_label(log.to_status)
