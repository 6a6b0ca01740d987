"""Pickup points: where shoppers collect, with the orders waiting at each."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from ..models import OrderStatus, PickupPoint


@admin.register(PickupPoint)
class PickupPointAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "region",
        "phone",
        "hours",
        "is_active",
        "waiting_count",
        "order_count",
    ]
    list_editable = ["is_active"]
    list_filter = ["is_active", "city"]
    search_fields = ["name", "address", "district"]
    fieldsets = [
        (None, {"fields": ["name", "is_active"]}),
        ("地址", {"fields": ["province", "city", "district", "address", "latitude", "longitude"]}),
        ("联系", {"fields": ["phone", "hours"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[PickupPoint]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                order_total=Count("orders"),
                waiting_total=Count("orders", filter=Q(orders__status=OrderStatus.PAID)),
            )
        )

    @admin.display(description="地址")
    def region(self, point: PickupPoint) -> str:
        return f"{point.city}{point.district}{point.address}"

    @admin.display(description="待自提", ordering="waiting_total")
    def waiting_count(self, point: PickupPoint) -> str:
        total = getattr(point, "waiting_total", 0)
        if not total:
            return "0"
        url = reverse("admin:orders_order_changelist")
        return format_html(
            '<a href="{}?pickup_point__id__exact={}&status__exact=paid">{}</a>',
            url,
            point.pk,
            total,
        )

    @admin.display(description="订单数", ordering="order_total")
    def order_count(self, point: PickupPoint) -> int:
        return getattr(point, "order_total", 0)
