"""会员 in the admin: the member list (level, points, balance, orders, spend, tags) and the detail
with its points and balance ledgers (read-only) and a manual points adjustment with a reason."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from mall.errors import DomainError
from mall.money import yuan
from orders.selectors import member_bought_totals_annotations
from payments.selectors import member_balance_ledger

from ..models import Member, MemberTag, PointsLedger, SubscribeMessage
from ..points import points_adjust

BALANCE_LEDGER_ROWS = 100


class PointsLedgerInline(admin.TabularInline):
    model = PointsLedger
    verbose_name_plural = "积分流水"
    fields = ["created_at", "kind", "points", "balance_after", "reference", "note", "operator"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-id"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).order_by("-id")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PointsAdjustForm(forms.Form):
    points = forms.IntegerField(label="积分（正数增加，负数扣减）")
    reason = forms.CharField(label="原因", max_length=200)


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "nickname",
        "phone",
        "level",
        "points_balance",
        "balance_display",
        "growth",
        "orders_count",
        "spend_display",
        "tags_display",
        "created_at",
        "last_login_at",
    ]
    list_select_related = ["level"]
    search_fields = ["nickname", "phone", "openid"]
    list_filter = ["level", "is_active", "created_at"]
    readonly_fields = [
        "openid",
        "unionid",
        "level",
        "points_balance",
        "balance_fen",
        "growth",
        "created_at",
        "last_login_at",
        "points_adjust_link",
        "balance_ledger",
    ]
    exclude = ["session_key"]
    inlines = [PointsLedgerInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request).annotate(**member_bought_totals_annotations())
        return queryset.prefetch_related(
            Prefetch(
                "member_tags", queryset=MemberTag.objects.select_related("tag").order_by("tag_id")
            )
        )

    def get_list_filter(self, request: HttpRequest) -> list:
        return [*super().get_list_filter(request), "member_tags__tag"]

    @admin.display(description="储值余额", ordering="balance_fen")
    def balance_display(self, member: Member) -> str:
        return f"¥{yuan(member.balance_fen)}"

    @admin.display(description="订单数", ordering="orders_count")
    def orders_count(self, member: Member) -> int:
        return member.orders_count  # type: ignore[attr-defined]

    @admin.display(description="累计消费", ordering="spend_fen")
    def spend_display(self, member: Member) -> str:
        return f"¥{yuan(member.spend_fen)}"  # type: ignore[attr-defined]

    @admin.display(description="标签")
    def tags_display(self, member: Member) -> str:
        return "、".join(item.tag.name for item in member.member_tags.all())

    @admin.display(description="积分调整")
    def points_adjust_link(self, member: Member) -> str:
        if not member.pk:
            return ""
        url = reverse("admin:members_member_points_adjust", args=[member.pk])
        return format_html('<a class="button" href="{}">手动调整积分</a>', url)

    @admin.display(description="储值余额流水")
    def balance_ledger(self, member: Member) -> str:
        """The latest stored-value movements, read through the payments app's selector."""
        if not member.pk:
            return ""
        entries = member_balance_ledger(member_id=member.pk, limit=BALANCE_LEDGER_ROWS)
        if not entries:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    timezone.localtime(entry.occurred_at).strftime("%Y-%m-%d %H:%M"),
                    entry.get_kind_display(),
                    entry.get_direction_display(),
                    f"¥{yuan(entry.amount_fen)}",
                    entry.external_key,
                    entry.note,
                )
                for entry in entries
            ),
        )
        return format_html(
            "<table><thead><tr><th>时间</th><th>类型</th><th>方向</th><th>金额</th>"
            "<th>外部单号</th><th>说明</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    def get_urls(self) -> list:
        return [
            path(
                "<int:member_id>/points-adjust/",
                self.admin_site.admin_view(self.points_adjust_view),
                name="members_member_points_adjust",
            ),
            *super().get_urls(),
        ]

    def points_adjust_view(self, request: HttpRequest, member_id: int) -> HttpResponse:
        member = get_object_or_404(Member, pk=member_id)
        if not self.has_change_permission(request, member):
            raise PermissionDenied
        form = PointsAdjustForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                entry = points_adjust(
                    member_id=member.pk,
                    points=form.cleaned_data["points"],
                    reason=form.cleaned_data["reason"],
                    operator=f"admin:{request.user.get_username()}",
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(
                    request,
                    f"已调整 {entry.points:+d} 积分，当前可用 {entry.balance_after}",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:members_member_change", args=[member.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": f"调整积分：{member}",
            "member": member,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/members/points_adjust.html", context)


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
