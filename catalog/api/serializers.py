"""Shopper API shapes of the catalogue. Names are unique across the project (OpenAPI components)."""

import re
from typing import Any

from django.http import QueryDict
from rest_framework import serializers

from catalog.models import Product, ProductImage, Sku
from mall.serializers import QuerySerializer

QUERY_MAX_LENGTH = 100
TAG_MAX_LENGTH = 20

ORDERING_CHOICES = [
    ("sales", "销量从高到低"),
    ("price", "价格从低到高"),
    ("-price", "价格从高到低"),
    ("newest", "最新上架"),
]


def _url(field_file: Any) -> str:
    return field_file.url if field_file else ""


# --- categories ---
class CategoryTreeNodeOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    icon = serializers.CharField(help_text="icon URL, empty when none")


# Recursive: spectacular turns this into a self-referencing component.
CategoryTreeNodeOutputSerializer._declared_fields["children"] = CategoryTreeNodeOutputSerializer(
    many=True
)


# --- product list ---
class ProductListQuerySerializer(QuerySerializer):
    q = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text=f"search words (Chinese ok); the first {QUERY_MAX_LENGTH} characters are used",
    )
    category = serializers.IntegerField(
        required=False, min_value=1, help_text="category id; its descendants are included"
    )
    min_price = serializers.IntegerField(
        required=False, min_value=0, help_text="fen, compared with the lowest SKU price"
    )
    max_price = serializers.IntegerField(
        required=False, min_value=0, help_text="fen, compared with the lowest SKU price"
    )
    tag = serializers.CharField(
        required=False, allow_blank=True, max_length=TAG_MAX_LENGTH, help_text="tag name"
    )
    in_stock = serializers.BooleanField(
        required=False, default=False, help_text="true: only products with stock"
    )
    ordering = serializers.ChoiceField(
        choices=ORDERING_CHOICES,
        required=False,
        help_text="default: merchant's sort weight, then sales; with q: relevance, then sales",
    )
    page = serializers.IntegerField(required=False, min_value=1)
    page_size = serializers.IntegerField(
        required=False, min_value=1, help_text="default 20, at most 50"
    )

    def validate_q(self, value: str) -> str:
        # A pasted paragraph is searched by its beginning, not refused (the search uses at most
        # MAX_QUERY_TOKENS terms anyway); the cache key stays short.
        return value[:QUERY_MAX_LENGTH]


_INT_MINIMUMS = {"category": 1, "min_price": 0, "max_price": 0, "page": 1, "page_size": 1}
_ORDERINGS = frozenset(value for value, _label in ORDERING_CHOICES)
_DIGITS = re.compile(r"[0-9]{1,18}")
_REFUSED_CHARACTERS = re.compile("[\x00\ud800-\udfff]")  # CharField's validators refuse them


def product_list_query(query_params: QueryDict) -> dict[str, Any]:
    """ProductListQuerySerializer's validated_data for these query parameters.

    The usual queries are parsed here, by hand (the serializer's validation cost a cached list
    request a fifth of its time); anything else (a blank, malformed or out-of-range value) goes
    through the serializer, which gives the same values or raises its `invalid` error.
    """
    params = _product_list_query_usual(query_params)
    if params is None:
        query = ProductListQuerySerializer(data=query_params)
        query.is_valid(raise_exception=True)
        params = dict(query.validated_data)
    return params


def _product_list_query_usual(query_params: QueryDict) -> dict[str, Any] | None:
    """What the serializer would validate, when every value is a usual one; else None."""
    params: dict[str, Any] = {"in_stock": False}
    for name in query_params:
        value = query_params[name]  # the last one, as the serializer reads it
        if value == "" or _REFUSED_CHARACTERS.search(value):
            return None
        if name in _INT_MINIMUMS:
            if not _DIGITS.fullmatch(value) or int(value) < _INT_MINIMUMS[name]:
                return None
            params[name] = int(value)
        elif name == "q":
            params["q"] = value.strip()[:QUERY_MAX_LENGTH]
        elif name == "tag":
            params["tag"] = value.strip()
            if len(params["tag"]) > TAG_MAX_LENGTH:
                return None
        elif name == "ordering":
            if value not in _ORDERINGS:
                return None
            params["ordering"] = value
        elif name == "in_stock":
            if value.lower() in serializers.BooleanField.TRUE_VALUES:
                params["in_stock"] = True
            elif value.lower() not in serializers.BooleanField.FALSE_VALUES:
                return None
    return params


class ProductListItemOutputSerializer(serializers.ModelSerializer):
    image = serializers.SerializerMethodField(help_text="main image thumbnail URL, or ''")
    tags = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")
    in_stock = serializers.BooleanField(source="has_stock")

    class Meta:
        model = Product
        fields = [
            "id",
            "title",
            "subtitle",
            "image",
            "min_price_fen",
            "max_price_fen",
            "original_price_fen",
            "sales_count",
            "tags",
            "in_stock",
        ]

    def get_image(self, product: Product) -> str:
        return _url(product.main_image_thumb) or _url(product.main_image)


class ProductPageOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = ProductListItemOutputSerializer(many=True)


# --- product detail ---
class ProductImageOutputSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    thumb_url = serializers.SerializerMethodField(help_text="750 px wide, or the image itself")

    class Meta:
        model = ProductImage
        fields = ["url", "thumb_url"]

    def get_url(self, image: ProductImage) -> str:
        return _url(image.image)

    def get_thumb_url(self, image: ProductImage) -> str:
        return _url(image.thumb_750) or _url(image.image)


class ProductBrandOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class CategoryPathItemOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class SkuBaseOutputSerializer(serializers.ModelSerializer):
    specs = serializers.DictField(child=serializers.CharField(), help_text='{"颜色": "红"}')
    image = serializers.SerializerMethodField()

    class Meta:
        model = Sku
        fields = ["id", "code", "specs", "price_fen", "original_price_fen", "stock", "image"]

    def get_image(self, sku: Sku) -> str:
        return _url(sku.image)


class ProductDetailBaseOutputSerializer(serializers.ModelSerializer):
    """What is cached: everything but live stock, the spec matrix and the shopper's prices."""

    main_image = serializers.SerializerMethodField()
    images = ProductImageOutputSerializer(many=True)
    brand = ProductBrandOutputSerializer(allow_null=True)
    category_path = CategoryPathItemOutputSerializer(many=True, help_text="root first")
    tags = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")
    skus = SkuBaseOutputSerializer(many=True, source="active_skus")

    class Meta:
        model = Product
        fields = [
            "id",
            "title",
            "subtitle",
            "main_image",
            "images",
            "detail_html",
            "brand",
            "category_path",
            "tags",
            "sales_count",
            "skus",
        ]

    def get_main_image(self, product: Product) -> str:
        return _url(product.main_image)


class SkuPromotionOutputSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="limited_time (限时折扣)")
    campaign_id = serializers.IntegerField()
    price_fen = serializers.IntegerField()
    ends_at = serializers.DateTimeField()
    seconds_left = serializers.IntegerField(help_text="countdown to ends_at")


class SkuDetailOutputSerializer(SkuBaseOutputSerializer):
    in_stock = serializers.BooleanField()
    pay_price_fen = serializers.IntegerField(help_text="what this shopper pays before coupons")
    promotion = SkuPromotionOutputSerializer(
        required=False, help_text="only on a SKU in a running 限时折扣"
    )

    class Meta(SkuBaseOutputSerializer.Meta):
        fields = [*SkuBaseOutputSerializer.Meta.fields, "in_stock", "pay_price_fen", "promotion"]


class SpecValueOutputSerializer(serializers.Serializer):
    value = serializers.CharField()
    available = serializers.BooleanField(help_text="some in-stock SKU has this value")


class SpecDimensionOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    values = SpecValueOutputSerializer(many=True)


class SpecCombinationOutputSerializer(serializers.Serializer):
    sku_id = serializers.IntegerField()
    stock = serializers.IntegerField()
    price_fen = serializers.IntegerField()


class SpecMatrixOutputSerializer(serializers.Serializer):
    dimensions = SpecDimensionOutputSerializer(many=True)
    combinations = serializers.DictField(
        child=SpecCombinationOutputSerializer(),
        help_text='by spec key "颜色:红|尺码:M" (dimensions in order); a missing key = no SKU',
    )


class ProductPriceOutputSerializer(serializers.Serializer):
    min_price_fen = serializers.IntegerField()
    max_price_fen = serializers.IntegerField()
    pay_price_fen = serializers.IntegerField(
        help_text="lowest price this shopper pays before coupons, over in-stock SKUs"
    )


class ProductDetailOutputSerializer(ProductDetailBaseOutputSerializer):
    skus = SkuDetailOutputSerializer(many=True)
    specs = SpecMatrixOutputSerializer()
    price = ProductPriceOutputSerializer()

    class Meta(ProductDetailBaseOutputSerializer.Meta):
        fields = [*ProductDetailBaseOutputSerializer.Meta.fields, "specs", "price"]


# --- search ---
class SearchKeywordsOutputSerializer(serializers.Serializer):
    keywords = serializers.ListField(child=serializers.CharField())
