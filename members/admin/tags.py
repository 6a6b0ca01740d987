"""标签 and 转介绍 in the admin: tags with their member counts, manual tagging as actions on the
member list (自动标签 are computed nightly and cannot be assigned by hand), referrals read-only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from mall.errors import DomainError

from ..models import Member, MemberTag, Referral, Tag
from ..tags import member_tags_add, member_tags_remove
from .member import MemberAdmin


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "code", "members_count", "description", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name"]
    readonly_fields = ["created_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tag]:
        return super().get_queryset(request).annotate(members_total=Count("member_tags"))

    @admin.display(description="会员数", ordering="members_total")
    def members_count(self, tag: Tag) -> int:
        return tag.members_total  # type: ignore[attr-defined]

    def get_readonly_fields(self, request: HttpRequest, obj: Tag | None = None) -> list[str]:
        if obj is not None and obj.kind == Tag.Kind.AUTO:
            return ["name", "kind", "code", "created_at"]  # the rule is code, not data
        return ["kind", "code", "created_at"]

    def has_delete_permission(self, request: HttpRequest, obj: Tag | None = None) -> bool:
        if obj is not None and obj.kind == Tag.Kind.AUTO:
            return False
        return super().has_delete_permission(request, obj)


@admin.register(MemberTag)
class MemberTagAdmin(admin.ModelAdmin):
    list_display = ["member", "tag", "source", "created_at"]
    list_filter = ["tag", "source"]
    search_fields = ["member__nickname", "member__phone", "tag__name"]
    list_select_related = ["member", "tag"]
    raw_id_fields = ["member"]
    readonly_fields = ["member", "tag", "source", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # use the member list's actions (they call the tags service)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Referral)
class ReferralAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "inviter",
        "invitee",
        "status",
        "order_no",
        "inviter_points",
        "invitee_points",
        "created_at",
        "settled_at",
    ]
    list_filter = ["status", "created_at"]
    search_fields = ["inviter__nickname", "inviter__phone", "invitee__nickname", "order_no"]
    list_select_related = ["inviter", "invitee"]
    readonly_fields = [*list_display[1:], "note"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- manual tagging: actions on the member list ---
class MemberTagActionForm(forms.Form):
    tag = forms.ModelChoiceField(
        label="标签", queryset=Tag.objects.filter(kind=Tag.Kind.MANUAL).order_by("name")
    )


def _tag_action(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[Member],
    *,
    action: str,
    title: str,
    remove: bool,
) -> HttpResponse | None:
    form = MemberTagActionForm(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        tag = form.cleaned_data["tag"]
        member_ids = list(queryset.order_by().values_list("pk", flat=True))
        try:
            if remove:
                changed = member_tags_remove(member_ids=member_ids, tag_id=tag.pk)
            else:
                changed = member_tags_add(member_ids=member_ids, tag_id=tag.pk)
        except DomainError as exc:
            modeladmin.message_user(request, exc.message, messages.ERROR)
            return None
        verb = "移除" if remove else "添加"
        modeladmin.message_user(
            request, f"已为 {changed} 个会员{verb}标签「{tag.name}」", messages.SUCCESS
        )
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "opts": modeladmin.model._meta,
        "form": form,
        "members": list(queryset.order_by("pk")[:500]),
        "count": queryset.count(),
        "action": action,
        "select_across": request.POST.get("select_across", "0"),
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/members/tag_action.html", context)


@admin.action(description="为所选会员添加标签", permissions=["change"])
def member_tag_add_action(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Member]
) -> HttpResponse | None:
    return _tag_action(
        modeladmin,
        request,
        queryset,
        action="member_tag_add_action",
        title="添加标签",
        remove=False,
    )


@admin.action(description="为所选会员移除标签", permissions=["change"])
def member_tag_remove_action(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Member]
) -> HttpResponse | None:
    return _tag_action(
        modeladmin,
        request,
        queryset,
        action="member_tag_remove_action",
        title="移除标签",
        remove=True,
    )


# The member list is members/admin/member.py's; tagging is this area's, so its actions join here.
MemberAdmin.actions = [
    *(MemberAdmin.actions or []),
    member_tag_add_action,
    member_tag_remove_action,
]
