"""The merchant's catalogue screens (Chinese). Every write goes through catalog services.

Stock is never written by a form: a new SKU's stock and a stock count (盘点) go through
catalog.stock.stock_set, so each change has a StockLog row with the operator's name.
"""

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db.models import Count, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html

from mall.errors import DomainError, InvalidImage
from mall.money import yuan

from . import selectors, services
from .images import image_validate, product_images_uploaded
from .models import Brand, Category, Product, ProductImage, SearchKeyword, Sku, StockLog, Tag
from .specs import dimension_names, sku_spec_key, sku_specs_validate, spec_dimension_order
from .stock import stock_set

THUMB_STYLE = "height:48px;width:48px;object-fit:cover;border-radius:4px"
# What the SKU inline writes to an existing SKU: never stock or sales_count, which orders change.
SKU_FORM_WRITES = (
    "code",
    "specs",
    "spec_key",
    "price_fen",
    "original_price_fen",
    "low_stock_threshold",
    "weight_g",
    "image",
    "is_active",
)


# --- image uploads ---
class ImageUploadValidationMixin:
    """Checks new uploads of `image_fields` with catalog.images.image_validate (size, format,
    decompression bombs) before they are stored."""

    image_fields: tuple[str, ...] = ()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()  # type: ignore[misc]
        for name in self.image_fields:
            upload = cleaned.get(name)
            if isinstance(upload, UploadedFile):
                try:
                    image_validate(upload)
                except InvalidImage as exc:
                    self.add_error(name, exc.message)  # type: ignore[attr-defined]
        return cleaned


def _thumbnail(*files: Any) -> str:
    for field_file in files:
        if field_file:
            return format_html('<img src="{}" style="{}" alt="">', field_file.url, THUMB_STYLE)
    return "—"


# --- products ---
class ProductAdminForm(ImageUploadValidationMixin, forms.ModelForm):
    image_fields = ("main_image",)

    class Meta:
        model = Product
        fields = [
            "title",
            "subtitle",
            "category",
            "brand",
            "tags",
            "main_image",
            "detail_html",
            "is_on_shelf",
            "sort_weight",
        ]


class SkuInlineForm(ImageUploadValidationMixin, forms.ModelForm):
    image_fields = ("image",)
    stock_set_to = forms.IntegerField(
        label="盘点为",
        required=False,
        min_value=0,
        help_text="填写则把库存改为此数（记库存流水）",
    )

    class Meta:
        model = Sku
        fields = [
            "code",
            "specs",
            "price_fen",
            "original_price_fen",
            "stock",
            "stock_set_to",
            "low_stock_threshold",
            "weight_g",
            "image",
            "is_active",
        ]

    def __init__(self, *args: Any, dimension_order: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        specs = self.initial.get("specs")
        if isinstance(specs, dict):  # show the product's dimension order, not jsonb's
            names = spec_dimension_order([specs], dimension_order)
            self.initial["specs"] = {name: specs[name] for name in names}
        if self.instance.pk:
            # Orders move stock all the time: the form never writes it (see save_formset).
            self.fields["stock"].disabled = True
            self.fields["stock"].help_text = "改库存请填「盘点为」"
        else:
            self.fields["stock_set_to"].disabled = True
            self.fields["stock"].help_text = "初始库存"

    def clean_specs(self) -> Any:
        specs = self.cleaned_data.get("specs")
        return {} if specs in (None, "") else specs


class SkuInlineFormSet(BaseInlineFormSet):
    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        kwargs = super().get_form_kwargs(index)
        kwargs["dimension_order"] = dimension_names(self.instance.spec_dimensions)
        return kwargs

    def typed_dimension_order(self) -> list[str]:
        """Dimension names as the merchant sees and types them: the product's order, then new
        names in the order typed."""
        return spec_dimension_order(
            [(form.cleaned_data or {}).get("specs") for form in self.forms],
            dimension_names(self.instance.spec_dimensions),
        )

    def clean(self) -> None:
        super().clean()
        active_specs = [
            form.cleaned_data.get("specs") or {}
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and form.cleaned_data.get("is_active")
        ]
        try:
            sku_specs_validate(specs_list=active_specs)
        except DomainError as exc:
            raise ValidationError(exc.message) from exc


class SkuInline(admin.TabularInline):
    model = Sku
    form = SkuInlineForm
    formset = SkuInlineFormSet
    extra = 1
    fields = SkuInlineForm.Meta.fields


class ProductImageForm(ImageUploadValidationMixin, forms.ModelForm):
    image_fields = ("image",)

    class Meta:
        model = ProductImage
        fields = ["image", "sort_order"]


class ProductImageInline(admin.TabularInline):
    model = ProductImage
    form = ProductImageForm
    extra = 1
    fields = ["preview", "image", "sort_order"]
    readonly_fields = ["preview"]

    @admin.display(description="预览")
    def preview(self, image: ProductImage) -> str:
        return _thumbnail(image.thumb_200, image.image)


class LowStockFilter(admin.SimpleListFilter):
    title = "库存预警"
    parameter_name = "low_stock"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "有 SKU 库存不高于预警值")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet | None:
        if self.value() == "yes":
            return queryset.filter(selectors.product_low_stock_exists())
        return None


class ProductCategoryActionForm(forms.Form):
    category = forms.ModelChoiceField(queryset=Category.objects.all(), label="新分类")


class ProductPriceActionForm(forms.Form):
    percent = forms.DecimalField(
        label="调价百分比",
        max_digits=7,
        decimal_places=2,
        min_value=Decimal("-99.99"),
        max_value=Decimal(1000),
        help_text="例如 -10 表示所有 SKU 售价降 10%，5 表示涨 5%；四舍五入到分，最低 0.01 元；划线价不变",
    )


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    form = ProductAdminForm
    inlines = [SkuInline, ProductImageInline]
    list_display = [
        "thumbnail",
        "title",
        "category",
        "price_range",
        "total_stock",
        "sales_count",
        "is_on_shelf",
    ]
    list_display_links = ["thumbnail", "title"]
    list_editable = ["is_on_shelf"]
    list_select_related = ["category"]
    list_filter = ["is_on_shelf", LowStockFilter, "category", "brand", "tags"]
    search_fields = ["title", "skus__code"]
    filter_horizontal = ["tags"]
    readonly_fields = ["sales_count", "price_range", "created_at", "updated_at"]
    list_per_page = 50
    actions = ["shelf_on", "shelf_off", "category_change", "price_adjust"]
    fieldsets = [
        (None, {"fields": ["title", "subtitle", "category", "brand", "tags"]}),
        ("图片与详情", {"fields": ["main_image", "detail_html"]}),
        ("上架与排序", {"fields": ["is_on_shelf", "sort_weight"]}),
        ("统计", {"fields": ["price_range", "sales_count", "created_at", "updated_at"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Product]:
        return (
            super()
            .get_queryset(request)
            # A subquery, not Sum over a join: the changelist's SKU-code search joins the SKUs
            # too, and a joined sum would count each matching SKU row again.
            .annotate(
                total_stock=Coalesce(
                    Subquery(
                        Sku.objects.filter(product_id=OuterRef("pk"), is_active=True)
                        .order_by()
                        .values("product_id")
                        .annotate(total=Sum("stock"))
                        .values("total")
                    ),
                    0,
                )
            )
        )

    @admin.display(description="主图")
    def thumbnail(self, product: Product) -> str:
        return _thumbnail(product.main_image_thumb, product.main_image)

    @admin.display(description="价格(元)", ordering="min_price_fen")
    def price_range(self, product: Product) -> str:
        if product.min_price_fen == product.max_price_fen:
            return f"¥{yuan(product.min_price_fen)}"
        return f"¥{yuan(product.min_price_fen)} – {yuan(product.max_price_fen)}"

    @admin.display(description="总库存", ordering="total_stock")
    def total_stock(self, product: Product) -> int:
        return getattr(product, "total_stock", None) or 0

    # --- saving: everything through services ---
    def save_model(self, request: HttpRequest, obj: Product, form: Any, change: bool) -> None:
        concrete = {f.name for f in Product._meta.concrete_fields if not f.primary_key}
        # Only what the form edits: sales_count, prices and thumbnails are written concurrently
        # by orders, services and the thumbnail task, and must not be overwritten with old values.
        fields = [name for name in form.fields if name in concrete] if change else None
        services.product_save(product=obj, update_fields=fields)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not Sku:
            super().save_formset(request, form, formset, change)
            return
        self._skus_save(request, formset)

    def _skus_save(self, request: HttpRequest, formset: Any) -> None:
        instances = formset.save(commit=False)
        for sku in formset.deleted_objects:
            sku.delete()
        order = formset.typed_dimension_order()
        stock_moves: list[tuple[Sku, int]] = []
        # Retired SKUs first, so a combination moved to a new SKU is free when it is saved.
        for sku in sorted(instances, key=lambda sku: sku.is_active):
            sku.spec_key = sku_spec_key(sku.specs, order)
            if sku.pk is None:
                initial_stock, sku.stock = sku.stock, 0
                sku.save()
                stock_moves.append((sku, initial_stock))
            else:
                sku.save(update_fields=[*SKU_FORM_WRITES])
        for sku_form in formset.forms:
            count = (sku_form.cleaned_data or {}).get("stock_set_to")
            if (
                sku_form.instance.pk
                and count is not None
                and not sku_form.cleaned_data.get("DELETE")
            ):
                stock_moves.append((sku_form.instance, count))
        for sku, count in stock_moves:
            stock_set(
                sku_id=sku.pk,
                stock=count,
                reason=StockLog.Reason.ADMIN_ADJUST,
                reference=f"product:{sku.product_id}",
                operator=request.user.get_username(),
            )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)  # tags, SKUs, images
        product = form.instance
        sku_formsets = [formset for formset in formsets if formset.model is Sku]
        services.product_refresh_derived(
            product_id=product.pk,
            dimension_order=sku_formsets[0].typed_dimension_order() if sku_formsets else (),
        )
        images_changed = "main_image" in form.changed_data or any(
            "image" in inline_form.changed_data
            for formset in formsets
            if formset.model is ProductImage
            for inline_form in formset.forms
        )
        if images_changed:
            product_images_uploaded(product_id=product.pk)

    def delete_model(self, request: HttpRequest, obj: Product) -> None:
        super().delete_model(request, obj)
        services.catalog_objects_deleted()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        super().delete_queryset(request, queryset)
        services.catalog_objects_deleted()

    # --- bulk actions ---
    @admin.action(description="上架所选商品", permissions=["change"])
    def shelf_on(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        changed = services.product_shelf_set(product_ids=_ids(queryset), is_on_shelf=True)
        self.message_user(request, f"已上架 {changed} 个商品", messages.SUCCESS)

    @admin.action(description="下架所选商品", permissions=["change"])
    def shelf_off(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        changed = services.product_shelf_set(product_ids=_ids(queryset), is_on_shelf=False)
        self.message_user(request, f"已下架 {changed} 个商品", messages.SUCCESS)

    @admin.action(description="修改所选商品的分类", permissions=["change"])
    def category_change(
        self, request: HttpRequest, queryset: QuerySet[Product]
    ) -> HttpResponse | None:
        form = ProductCategoryActionForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            changed = services.product_category_set(
                product_ids=_ids(queryset), category_id=form.cleaned_data["category"].pk
            )
            self.message_user(
                request,
                f"已把 {changed} 个商品移到「{form.cleaned_data['category']}」",
                messages.SUCCESS,
            )
            return None
        return self._action_form(request, queryset, form, "category_change", "修改分类")

    @admin.action(description="按百分比调整所选商品的价格", permissions=["change"])
    def price_adjust(
        self, request: HttpRequest, queryset: QuerySet[Product]
    ) -> HttpResponse | None:
        form = ProductPriceActionForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            percent_bp = int(form.cleaned_data["percent"] * 100)
            try:
                changed = services.product_price_adjust(
                    product_ids=_ids(queryset), percent_bp=percent_bp
                )
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return None
            self.message_user(
                request,
                f"已调整 {changed} 个 SKU 的售价（{form.cleaned_data['percent']:+}%）",
                messages.SUCCESS,
            )
            return None
        return self._action_form(request, queryset, form, "price_adjust", "按百分比调价")

    def _action_form(
        self,
        request: HttpRequest,
        queryset: QuerySet[Product],
        form: forms.Form,
        action: str,
        title: str,
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "form": form,
            "products": list(queryset.order_by("pk").values("pk", "title")[:500]),
            "count": queryset.count(),
            "action": action,
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/catalog/product/bulk_action.html", context)


def _ids(queryset: QuerySet) -> list[int]:
    return list(queryset.order_by().values_list("pk", flat=True))


# --- stock log ---
@admin.register(StockLog)
class StockLogAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "sku",
        "change",
        "stock_before",
        "stock_after",
        "reason",
        "reference",
        "operator",
    ]
    list_filter = ["reason", "created_at"]
    search_fields = ["sku__code", "reference"]
    list_select_related = ["sku"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- categories, brands, tags, keywords ---
class CategoryAdminForm(ImageUploadValidationMixin, forms.ModelForm):
    image_fields = ("icon",)

    class Meta:
        model = Category
        fields = ["name", "parent", "icon", "sort_order", "is_visible"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        try:
            services.category_parent_validate(category=self.instance, parent=cleaned.get("parent"))
        except DomainError as exc:
            self.add_error("parent", exc.message)
        return cleaned


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    form = CategoryAdminForm
    list_display = ["name", "parent", "icon_preview", "sort_order", "is_visible", "product_count"]
    list_editable = ["sort_order", "is_visible"]
    list_filter = ["is_visible", "parent"]
    list_select_related = ["parent"]
    search_fields = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Category]:
        return super().get_queryset(request).annotate(product_total=Count("products"))

    @admin.display(description="商品数", ordering="product_total")
    def product_count(self, category: Category) -> int:
        return getattr(category, "product_total", 0)

    @admin.display(description="图标")
    def icon_preview(self, category: Category) -> str:
        return _thumbnail(category.icon)

    def save_model(self, request: HttpRequest, obj: Category, form: Any, change: bool) -> None:
        services.category_save(category=obj)

    def delete_model(self, request: HttpRequest, obj: Category) -> None:
        super().delete_model(request, obj)
        services.catalog_objects_deleted()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        super().delete_queryset(request, queryset)
        services.catalog_objects_deleted()


class BrandAdminForm(ImageUploadValidationMixin, forms.ModelForm):
    image_fields = ("logo",)

    class Meta:
        model = Brand
        fields = ["name", "logo"]


@admin.register(Brand)
class BrandAdmin(admin.ModelAdmin):
    form = BrandAdminForm
    list_display = ["name", "logo_preview"]
    search_fields = ["name"]

    @admin.display(description="Logo")
    def logo_preview(self, brand: Brand) -> str:
        return _thumbnail(brand.logo)

    def save_model(self, request: HttpRequest, obj: Brand, form: Any, change: bool) -> None:
        services.brand_save(brand=obj)

    def delete_model(self, request: HttpRequest, obj: Brand) -> None:
        super().delete_model(request, obj)
        services.catalog_objects_deleted()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        super().delete_queryset(request, queryset)
        services.catalog_objects_deleted()


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name"]
    search_fields = ["name"]

    def save_model(self, request: HttpRequest, obj: Tag, form: Any, change: bool) -> None:
        services.tag_save(tag=obj)

    def delete_model(self, request: HttpRequest, obj: Tag) -> None:
        super().delete_model(request, obj)
        services.catalog_objects_deleted()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        super().delete_queryset(request, queryset)
        services.catalog_objects_deleted()


@admin.register(SearchKeyword)
class SearchKeywordAdmin(admin.ModelAdmin):
    list_display = ["keyword", "search_count", "is_pinned", "updated_at"]
    list_editable = ["is_pinned"]
    list_filter = ["is_pinned"]
    search_fields = ["keyword"]
    readonly_fields = ["search_count", "updated_at"]

    def save_model(self, request: HttpRequest, obj: SearchKeyword, form: Any, change: bool) -> None:
        # search_count is incremented by every search meanwhile: write only what was edited.
        edited = [name for name in form.fields if name not in self.readonly_fields]
        obj.save(update_fields=[*edited, "updated_at"] if change else None)
