from django.contrib import admin

from ..models import Member, SubscribeMessage


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "nickname",
        "phone",
        "points_balance",
        "balance_fen",
        "growth",
        "created_at",
        "last_login_at",
    ]
    search_fields = ["nickname", "phone", "openid"]
    list_filter = ["is_active", "created_at"]
    readonly_fields = [
        "openid",
        "unionid",
        "points_balance",
        "balance_fen",
        "growth",
        "created_at",
        "last_login_at",
    ]
    exclude = ["session_key"]


@admin.register(SubscribeMessage)
class SubscribeMessageAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "member",
        "template_key",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "sent_at",
    ]
    list_filter = ["status", "template_key"]
    list_select_related = ["member"]
    readonly_fields = [f.name for f in SubscribeMessage._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False
