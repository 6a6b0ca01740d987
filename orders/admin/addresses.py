"""Shoppers' addresses: read-only for the merchant."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from ..models import Address


@admin.register(Address)
class AddressAdmin(admin.ModelAdmin):
    list_display = ["name", "phone", "region", "member", "is_default", "updated_at"]
    list_select_related = ["member"]
    list_filter = ["is_default", "province"]
    search_fields = ["name", "phone", "member__phone", "member__nickname", "detail"]
    search_help_text = "按收货人、电话、会员手机号/昵称或详细地址搜索"

    @admin.display(description="地址")
    def region(self, address: Address) -> str:
        return f"{address.province}{address.city}{address.district}{address.detail}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
