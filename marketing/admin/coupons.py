"""优惠券 in the admin: templates with issued/used counts, GMV and discount given; issuing to
members or a member tag; redeem-code batches with CSV export; spend rules; issued coupons
read-only. Every write of counters or coupons goes through marketing.services.coupons."""

from __future__ import annotations

import csv
import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from catalog.models import Category
from mall.errors import DomainError
from mall.money import BASIS_POINTS, yuan
from members.models import Tag
from orders.selectors import orders_payable_and_breakdown

from ..models import Coupon, CouponCode, CouponCodeBatch, CouponSpendRule, CouponTemplate
from ..services.coupons import (
    CODE_MAX_BATCH,
    coupon_code_normalize,
    coupon_codes_generate,
    coupons_issue,
    coupons_issue_to_tag,
)

ISSUE_MAX_MEMBER_IDS = 10_000
FACE_VALUE_KINDS = (CouponTemplate.Kind.FULL_REDUCTION, CouponTemplate.Kind.CASH)  # need amount_fen


def _ids(text: str) -> list[int]:
    return [int(part) for part in re.split(r"[\s,，;；]+", text.strip()) if part]


def _coupon_stats(template_ids: list[int]) -> dict[int, tuple[int, int]]:
    """{template id: (GMV of the paid orders using its coupons, discount those coupons gave)},
    read from the orders' stored breakdown (ref "coupon:<id>") through orders' selector."""
    used = list(
        Coupon.objects.filter(template_id__in=template_ids, status=Coupon.Status.USED)
        .exclude(order_id=None)
        .values_list("pk", "template_id", "order_id")
    )
    orders = orders_payable_and_breakdown(order_ids={order_id for _, _, order_id in used})
    stats = dict.fromkeys(template_ids, (0, 0))
    for coupon_id, template_id, order_id in used:
        if order_id not in orders:
            continue
        payable_fen, breakdown = orders[order_id]
        ref = f"coupon:{coupon_id}"
        discount = sum(
            d.get("amount_fen", 0) for d in breakdown.get("discounts", []) if d.get("ref") == ref
        )
        gmv, given = stats[template_id]
        stats[template_id] = (gmv + payable_fen, given + discount)
    return stats


class CouponTemplateForm(forms.ModelForm):
    categories = forms.ModelMultipleChoiceField(
        label="适用分类",
        queryset=Category.objects.all(),
        required=False,
        widget=FilteredSelectMultiple("分类", is_stacked=False),
        help_text="含所有下级分类",
    )
    products_text = forms.CharField(
        label="适用商品ID", required=False, help_text="范围为“指定商品”时填写，逗号或空格分隔"
    )
    excluded_text = forms.CharField(label="排除商品ID", required=False, help_text="逗号或空格分隔")

    class Meta:
        model = CouponTemplate
        fields = [
            "name",
            "description",
            "kind",
            "is_active",
            "is_claimable",
            "threshold_fen",
            "amount_fen",
            "rate_bp",
            "cap_fen",
            "sku",
            "scope",
            "validity",
            "starts_at",
            "ends_at",
            "valid_days",
            "total_quantity",
            "per_member_limit",
            "stackable_with_campaigns",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["categories"].initial = self.instance.category_ids
            self.fields["products_text"].initial = ",".join(map(str, self.instance.product_ids))
            self.fields["excluded_text"].initial = ",".join(
                map(str, self.instance.excluded_product_ids)
            )

    def _clean_ids(self, name: str) -> list[int]:
        try:
            return _ids(self.cleaned_data.get(name) or "")
        except ValueError:
            raise forms.ValidationError("请填写数字 ID，用逗号或空格分隔") from None

    def clean_products_text(self) -> list[int]:
        return self._clean_ids("products_text")

    def clean_excluded_text(self) -> list[int]:
        return self._clean_ids("excluded_text")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        kind, scope = data.get("kind"), data.get("scope")
        if kind in FACE_VALUE_KINDS and not data.get("amount_fen"):
            self.add_error("amount_fen", "请填写面额")
        if (
            kind == CouponTemplate.Kind.DISCOUNT
            and not 1 <= (data.get("rate_bp") or 0) < BASIS_POINTS
        ):
            self.add_error("rate_bp", "折扣率须在 1 到 9999 之间（8500 表示 85 折）")
        if kind == CouponTemplate.Kind.EXCHANGE and not data.get("sku"):
            self.add_error("sku", "兑换券须指定 SKU")
        if scope == CouponTemplate.Scope.CATEGORIES and not data.get("categories"):
            self.add_error("categories", "请选择分类")
        if scope == CouponTemplate.Scope.PRODUCTS and not data.get("products_text"):
            self.add_error("products_text", "请填写商品ID")
        if data.get("validity") == CouponTemplate.Validity.FIXED:
            starts_at, ends_at = data.get("starts_at"), data.get("ends_at")
            if not starts_at or not ends_at or ends_at <= starts_at:
                self.add_error("ends_at", "固定时间段须填写生效与失效时间，且失效晚于生效")
        elif not data.get("valid_days"):
            self.add_error("valid_days", "请填写领取后有效天数")
        return data

    def save(self, commit: bool = True) -> CouponTemplate:
        template = super().save(commit=False)
        template.category_ids = [c.pk for c in self.cleaned_data.get("categories") or []]
        template.product_ids = self.cleaned_data.get("products_text") or []
        template.excluded_product_ids = self.cleaned_data.get("excluded_text") or []
        if commit:
            template.save()
        return template


class CouponIssueForm(forms.Form):
    member_ids = forms.CharField(
        label="会员ID",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="逗号、空格或换行分隔；与会员标签二选一",
    )
    tag = forms.ModelChoiceField(label="会员标签", queryset=Tag.objects.all(), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        try:
            data["member_ids"] = _ids(data.get("member_ids") or "")
        except ValueError:
            raise forms.ValidationError("会员ID须为数字") from None
        if bool(data["member_ids"]) == bool(data.get("tag")):
            raise forms.ValidationError("请填写会员ID或选择会员标签（二选一）")
        if len(data["member_ids"]) > ISSUE_MAX_MEMBER_IDS:
            raise forms.ValidationError(f"一次最多 {ISSUE_MAX_MEMBER_IDS} 个会员ID，请用标签发放")
        return data


@admin.register(CouponTemplate)
class CouponTemplateAdmin(admin.ModelAdmin):
    form = CouponTemplateForm
    list_display = [
        "name",
        "kind",
        "value_text",
        "scope",
        "validity_text",
        "total_quantity",
        "issued_count",
        "used_count",
        "gmv_yuan",
        "discount_yuan",
        "is_claimable",
        "is_active",
        "issue_link",
    ]
    list_filter = ["kind", "scope", "validity", "is_claimable", "is_active"]
    search_fields = ["name"]
    raw_id_fields = ["sku"]
    readonly_fields = ["issued_count", "used_count", "stats_text", "created_at"]
    actions = ["deactivate"]
    fieldsets = [
        (None, {"fields": ["name", "description", "kind", "is_active", "is_claimable"]}),
        (
            "优惠规则",
            {"fields": ["threshold_fen", "amount_fen", "rate_bp", "cap_fen", "sku"]},
        ),
        ("适用范围", {"fields": ["scope", "categories", "products_text", "excluded_text"]}),
        ("有效期", {"fields": ["validity", "starts_at", "ends_at", "valid_days"]}),
        (
            "数量与叠加",
            {"fields": ["total_quantity", "per_member_limit", "stackable_with_campaigns"]},
        ),
        ("数据", {"fields": ["issued_count", "used_count", "stats_text", "created_at"]}),
    ]

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        changelist = super().get_changelist_instance(request)
        stats = _coupon_stats([t.pk for t in changelist.result_list])
        for template in changelist.result_list:
            template.stats = stats.get(template.pk, (0, 0))
        return changelist

    @admin.display(description="优惠")
    def value_text(self, template: CouponTemplate) -> str:
        threshold = f"满{yuan(template.threshold_fen)}" if template.threshold_fen else "无门槛"
        if template.kind == CouponTemplate.Kind.DISCOUNT:
            rate = f"{template.rate_bp / 1000:g}折"
            cap = f"，最多减{yuan(template.cap_fen)}" if template.cap_fen else ""
            return f"{threshold}打{rate}{cap}"
        if template.kind == CouponTemplate.Kind.EXCHANGE:
            return f"兑换 SKU {template.sku_id}"
        if template.kind == CouponTemplate.Kind.SHIPPING:
            return f"运费最多减{yuan(template.amount_fen)}" if template.amount_fen else "免运费"
        return f"{threshold}减{yuan(template.amount_fen)}"

    @admin.display(description="有效期")
    def validity_text(self, template: CouponTemplate) -> str:
        if template.validity == CouponTemplate.Validity.RELATIVE:
            return f"领取后{template.valid_days}天"
        if template.starts_at and template.ends_at:
            return f"{template.starts_at:%Y-%m-%d} ~ {template.ends_at:%Y-%m-%d}"
        return "-"

    @admin.display(description="用券订单GMV(元)")
    def gmv_yuan(self, template: CouponTemplate) -> str:
        return yuan(getattr(template, "stats", (0, 0))[0])

    @admin.display(description="优惠金额(元)")
    def discount_yuan(self, template: CouponTemplate) -> str:
        return yuan(getattr(template, "stats", (0, 0))[1])

    @admin.display(description="用券订单GMV / 优惠金额")
    def stats_text(self, template: CouponTemplate) -> str:
        if not template.pk:
            return "-"
        gmv, given = _coupon_stats([template.pk])[template.pk]
        return f"¥{yuan(gmv)} / ¥{yuan(given)}"

    @admin.display(description="发放")
    def issue_link(self, template: CouponTemplate) -> str:
        url = reverse("admin:marketing_coupontemplate_issue", args=[template.pk])
        return format_html('<a href="{}">发放给会员</a>', url)

    @admin.action(description="停用所选模板（不再发放，已发出的券仍可用）", permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[CouponTemplate]) -> None:
        count = queryset.update(is_active=False)
        self.message_user(request, f"已停用 {count} 个模板", messages.SUCCESS)

    def get_urls(self) -> list[URLPattern]:
        issue = path(
            "<int:template_id>/issue/",
            self.admin_site.admin_view(self.issue_view),
            name="marketing_coupontemplate_issue",
        )
        return [issue, *super().get_urls()]

    def issue_view(self, request: HttpRequest, template_id: int) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        template = get_object_or_404(CouponTemplate, pk=template_id)
        form = CouponIssueForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                if form.cleaned_data.get("tag"):
                    count = coupons_issue_to_tag(
                        template_id=template.pk, tag_id=form.cleaned_data["tag"].pk
                    )
                else:
                    count = len(
                        coupons_issue(
                            template_id=template.pk, member_ids=form.cleaned_data["member_ids"]
                        )
                    )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(
                    request, f"已向 {count} 位会员发放「{template.name}」", messages.SUCCESS
                )
                return HttpResponseRedirect(reverse("admin:marketing_coupontemplate_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"发放优惠券：{template.name}",
            "template_obj": template,
            "form": form,
        }
        return TemplateResponse(request, "admin/marketing/coupontemplate/issue.html", context)


class CouponCodeBatchForm(forms.ModelForm):
    shared_code = forms.CharField(
        label="通用码", required=False, max_length=32, help_text="通用码类型时填写；留空则随机生成"
    )

    class Meta:
        model = CouponCodeBatch
        fields = ["template", "name", "kind", "quantity"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        quantity = data.get("quantity") or 0
        if not 1 <= quantity <= CODE_MAX_BATCH:
            self.add_error("quantity", f"数量须在 1 到 {CODE_MAX_BATCH} 之间")
        code = coupon_code_normalize(data.get("shared_code") or "")
        if data.get("kind") == CouponCodeBatch.Kind.SHARED and code:
            if not 4 <= len(code) <= 32:
                self.add_error("shared_code", "通用码长度须为 4-32 个字符")
            elif CouponCode.objects.filter(code=code).exists():
                self.add_error("shared_code", "该兑换码已存在")
        return data


@admin.register(CouponCodeBatch)
class CouponCodeBatchAdmin(admin.ModelAdmin):
    form = CouponCodeBatchForm
    list_display = ["name", "template", "kind", "quantity", "redeemed", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name", "template__name", "codes__code"]
    list_select_related = ["template"]
    actions = ["export_codes"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[CouponCodeBatch]:
        return super().get_queryset(request).annotate(redeemed_total=Sum("codes__used_count"))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["template", "name", "kind", "quantity", "created_at"] if obj else []

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is not None:
            return ["template", "name", "kind", "quantity", "created_at"]
        return ["template", "name", "kind", "quantity", "shared_code"]

    @admin.display(description="已兑换次数", ordering="redeemed_total")
    def redeemed(self, batch: CouponCodeBatch) -> int:
        return batch.redeemed_total or 0  # type: ignore[attr-defined]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            return  # a batch is immutable once made
        try:
            batch = coupon_codes_generate(
                template_id=obj.template_id,
                name=obj.name,
                kind=obj.kind,
                quantity=obj.quantity,
                code=form.cleaned_data.get("shared_code") or "",
            )
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            raise
        obj.pk, obj.created_at = batch.pk, batch.created_at

    def add_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return super().add_view(request, *args, **kwargs)
        except DomainError:  # the message is shown; the form comes back empty
            return HttpResponseRedirect(request.path)

    @admin.action(description="导出兑换码 (CSV)", permissions=["change"])
    def export_codes(
        self, request: HttpRequest, queryset: QuerySet[CouponCodeBatch]
    ) -> HttpResponse:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="coupon-codes.csv"'
        response.write("\ufeff")  # Excel reads UTF-8 with a BOM
        writer = csv.writer(response)
        writer.writerow(["批次", "优惠券", "兑换码", "可兑换次数", "已兑换次数"])
        codes = (
            CouponCode.objects.filter(batch__in=queryset)
            .select_related("batch", "template")
            .order_by("batch_id", "id")
        )
        for code in codes.iterator(chunk_size=2000):
            writer.writerow(
                [code.batch.name, code.template.name, code.code, code.max_uses, code.used_count]
            )
        return response


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CouponCode)
class CouponCodeAdmin(ReadOnlyAdmin):
    list_display = ["code", "template", "batch", "max_uses", "used_count", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["=code", "batch__name"]
    list_select_related = ["template", "batch"]


@admin.register(Coupon)
class CouponAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "member",
        "template",
        "status",
        "source",
        "valid_from",
        "valid_until",
        "order_id",
        "used_at",
        "created_at",
    ]
    list_filter = ["status", "source", "template"]
    search_fields = ["=id", "member__nickname", "member__phone", "member__openid", "=order_id"]
    list_select_related = ["member", "template"]
    date_hierarchy = "created_at"


@admin.register(CouponSpendRule)
class CouponSpendRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "min_paid_yuan", "starts_at", "ends_at", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    filter_horizontal = ["templates"]

    @admin.display(description="实付满(元)", ordering="min_paid_fen")
    def min_paid_yuan(self, rule: CouponSpendRule) -> str:
        return yuan(rule.min_paid_fen)
