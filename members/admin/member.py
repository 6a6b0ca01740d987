"""会员 in the admin: the member list (level, points, balance, orders, spend, tags) and the detail
with its points and balance ledgers (read-only) and a manual points adjustment with a reason."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, Prefetch, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from mall.errors import DomainError
from mall.money import yuan

from ..models import Member, PointsLedger, SubscribeMessage
from ..points import points_adjust

# Orders that count as bought: paid and not fully refunded.
BOUGHT_STATUSES = ("paid", "shipped", "received", "completed")


def _orders_subquery(value: Any) -> Subquery:
    # The admin is an interface: it may read the higher orders app.
    from orders.models import Order

    bought = (
        Order.objects.filter(member=OuterRef("pk"), status__in=BOUGHT_STATUSES)
        .order_by()
        .values("member")
    )
    return Subquery(bought.annotate(v=value).values("v")[:1], output_field=IntegerField())


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


def _balance_inline() -> type[admin.TabularInline] | None:
    try:
        from payments.models import LedgerEntry
    except ImportError:  # pragma: no cover - payments is installed with the shop
        return None

    class BalanceLedgerInline(admin.TabularInline):
        model = LedgerEntry
        fk_name = "member"
        verbose_name_plural = "储值余额流水"
        fields = ["occurred_at", "kind", "direction", "amount_fen", "external_key", "note"]
        readonly_fields = fields
        extra = 0
        can_delete = False

        def get_queryset(self, request: HttpRequest) -> QuerySet:
            return super().get_queryset(request).filter(channel="balance").order_by("-id")

        def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
            return False

        def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
            return False

    return BalanceLedgerInline


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
    ]
    exclude = ["session_key"]
    inlines = [PointsLedgerInline, *filter(None, [_balance_inline()])]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = (
            super()
            .get_queryset(request)
            .annotate(
                orders_count=Coalesce(_orders_subquery(Count("pk")), 0),
                spend_fen=Coalesce(_orders_subquery(Sum("payable_fen")), 0),
            )
        )
        if hasattr(Member, "member_tags"):  # tags (members.models.tags) when installed
            queryset = queryset.prefetch_related(
                Prefetch("member_tags", queryset=_member_tags_queryset())
            )
        return queryset

    def get_list_filter(self, request: HttpRequest) -> list:
        found = list(super().get_list_filter(request))
        if hasattr(Member, "member_tags"):
            found.append("member_tags__tag")
        return found

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
        if not hasattr(member, "member_tags"):
            return ""
        return "、".join(item.tag.name for item in member.member_tags.all())

    @admin.display(description="积分调整")
    def points_adjust_link(self, member: Member) -> str:
        from django.utils.html import format_html

        if not member.pk:
            return ""
        url = reverse("admin:members_member_points_adjust", args=[member.pk])
        return format_html('<a class="button" href="{}">手动调整积分</a>', url)

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


def _member_tags_queryset() -> QuerySet:
    from ..models import MemberTag

    return MemberTag.objects.select_related("tag").order_by("tag_id")


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
