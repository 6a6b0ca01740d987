"""Freight templates and their per-province rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest

from ..models import FreightRule, FreightTemplate
from .desk import money

# Provincial-level divisions as addresses name them (WeChat's chooseAddress, our Address).
PROVINCES = (
    "北京市",
    "天津市",
    "上海市",
    "重庆市",
    "河北省",
    "山西省",
    "辽宁省",
    "吉林省",
    "黑龙江省",
    "江苏省",
    "浙江省",
    "安徽省",
    "福建省",
    "江西省",
    "山东省",
    "河南省",
    "湖北省",
    "湖南省",
    "广东省",
    "海南省",
    "四川省",
    "贵州省",
    "云南省",
    "陕西省",
    "甘肃省",
    "青海省",
    "台湾省",
    "内蒙古自治区",
    "广西壮族自治区",
    "西藏自治区",
    "宁夏回族自治区",
    "新疆维吾尔自治区",
    "香港特别行政区",
    "澳门特别行政区",
)
PROVINCE_SUFFIXES = ("壮族自治区", "回族自治区", "维吾尔自治区", "特别行政区", "自治区", "省", "市")


def _province_short(name: str) -> str:
    for suffix in PROVINCE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


PROVINCE_BY_NAME = {name: name for name in PROVINCES} | {
    _province_short(name): name for name in PROVINCES
}


def provinces_parse(text: str) -> list[str]:
    """ "浙江, 江苏省、上海" → ["浙江省", "江苏省", "上海市"]. Raises: ValidationError."""
    for separator in ("，", "、", ";", "；", "\n", " "):
        text = text.replace(separator, ",")
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in PROVINCE_BY_NAME]
    if unknown:
        raise ValidationError(
            f"不认识的省份：{'、'.join(unknown)}（请写全称或简称，如 浙江省 / 浙江）"
        )
    return list(dict.fromkeys(PROVINCE_BY_NAME[name] for name in names))


class FreightRuleForm(forms.ModelForm):
    regions = forms.CharField(
        label="地区(省)",
        required=False,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="用逗号分隔，如：浙江省,江苏省,上海市；留空表示其他地区",
    )

    class Meta:
        model = FreightRule
        fields = ["regions", "first_units", "first_fee_fen", "extra_units", "extra_fee_fen"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["regions"] = ",".join(self.instance.regions or [])

    def clean_regions(self) -> list[str]:
        return provinces_parse(self.cleaned_data.get("regions") or "")


class FreightRuleFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        seen: set[str] = set()
        fallback_rules = 0
        for form in self.forms:
            if not form.cleaned_data or form.cleaned_data.get("DELETE"):
                continue
            regions = form.cleaned_data.get("regions") or []
            if not regions:
                fallback_rules += 1
            repeated = seen.intersection(regions)
            if repeated:
                raise ValidationError(
                    f"同一省份只能出现在一条规则里：{'、'.join(sorted(repeated))}"
                )
            seen.update(regions)
        if fallback_rules > 1:
            raise ValidationError("只能有一条「其他地区」规则（地区留空）")


class FreightRuleInline(admin.TabularInline):
    model = FreightRule
    form = FreightRuleForm
    formset = FreightRuleFormSet
    extra = 1


@admin.register(FreightTemplate)
class FreightTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "charge_by", "free_over", "is_default", "rule_count", "product_count"]
    list_filter = ["charge_by", "is_default"]
    search_fields = ["name"]
    autocomplete_fields = ["products"]
    inlines = [FreightRuleInline]
    fields = ["name", "charge_by", "free_over_fen", "is_default", "products"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[FreightTemplate]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                rule_total=Count("rules", distinct=True),
                product_total=Count("products", distinct=True),
            )
        )

    @admin.display(description="满额包邮", ordering="free_over_fen")
    def free_over(self, template: FreightTemplate) -> str:
        return f"满 {money(template.free_over_fen)}" if template.free_over_fen else "不包邮"

    @admin.display(description="规则数", ordering="rule_total")
    def rule_count(self, template: FreightTemplate) -> int:
        return getattr(template, "rule_total", 0)

    @admin.display(description="适用商品数", ordering="product_total")
    def product_count(self, template: FreightTemplate) -> int:
        return getattr(template, "product_total", 0)
