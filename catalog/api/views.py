"""Shopper catalogue API: one APIView per operation. Anonymous access; a token is used if sent.

Lists, details and the category tree are cached under the catalogue version (catalog.cache), so
any change through the services shows at once. The detail adds stock levels kept per process for
up to a second (catalog.selectors.sku_stock_levels), because stock moves do not bump the version
unless a SKU sells out; this process's own moves show at once.
"""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import search, selectors
from catalog.cache import catalog_cache_key, catalog_cached
from catalog.models import Product
from mall.openapi import errors
from mall.pagination import PagePagination
from marketing.services.campaigns import limited_time_prices_for_skus

from .serializers import (
    CategoryTreeNodeOutputSerializer,
    ProductDetailBaseOutputSerializer,
    ProductDetailOutputSerializer,
    ProductListItemOutputSerializer,
    ProductListQuerySerializer,
    ProductPageOutputSerializer,
    SearchKeywordsOutputSerializer,
    product_list_query,
)

HOT_KEYWORDS_CACHE_SECONDS = 60


def _member_id(request: Request) -> int | None:
    return request.user.pk if request.user is not None else None


class CategoryTreeApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["catalog"],
        summary="Category tree (visible categories only)",
        operation_id="v1_categories_list",
        responses={200: CategoryTreeNodeOutputSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        tree, _ = catalog_cached(
            catalog_cache_key("categories"),
            lambda: CategoryTreeNodeOutputSerializer(selectors.category_tree(), many=True).data,
        )
        return Response(tree)


class ProductListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["catalog"],
        summary="Products: filter, search, order, page",
        operation_id="v1_products_list",
        parameters=[ProductListQuerySerializer],
        responses={200: ProductPageOutputSerializer, **errors("invalid", "not_found")},
    )
    def get(self, request: Request) -> Response:
        params = product_list_query(request.query_params)
        q = params.get("q", "").strip()
        paginator = PagePagination()
        key = catalog_cache_key(
            "products", request.scheme, request.get_host(), sorted(params.items())
        )

        def build() -> dict:
            products = selectors.product_list_for_shoppers(
                category_id=params.get("category"),
                min_price_fen=params.get("min_price"),
                max_price_fen=params.get("max_price"),
                tag=params.get("tag") or None,
                in_stock=params["in_stock"],
                q=q or None,
                ordering=params.get("ordering"),
            )
            page = paginator.paginate_queryset(products, request, view=self)
            results = ProductListItemOutputSerializer(page, many=True).data
            return paginator.get_paginated_response(results).data

        body, _ = catalog_cached(key, build)
        if q and params.get("page", 1) == 1:  # a search, not its next pages
            search.search_record(
                query=q, member_id=_member_id(request), has_results=body["count"] > 0
            )
        return Response(body)


class ProductDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["catalog"],
        summary="Product with SKUs, spec matrix, images and prices",
        responses={200: ProductDetailOutputSerializer, **errors("not_found")},
    )
    def get(self, request: Request, product_id: int) -> Response:
        def build() -> dict:
            try:
                product = selectors.product_detail_get(product_id=product_id)
            except Product.DoesNotExist as exc:
                raise NotFound() from exc
            return {
                **ProductDetailBaseOutputSerializer(product).data,
                "dimension_order": product.dimension_order,
            }

        base, hit = catalog_cached(catalog_cache_key("product", product_id), build)
        stock_levels = selectors.sku_stock_levels(product_id=product_id) if hit else None
        now = timezone.now()
        # 限时折扣 prices from marketing (a cached snapshot: no query when warm).
        limited_time = limited_time_prices_for_skus(
            prices={sku["id"]: sku["price_fen"] for sku in base["skus"]},
            now=now,
            level_id=getattr(request.user, "level_id", None),
        )
        return Response(
            selectors.product_detail_assemble(
                base=base,
                stock_levels=stock_levels,
                member_id=_member_id(request),
                limited_time=limited_time,
                now=now,
            )
        )


class SearchHotApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["catalog"],
        summary="Hot search keywords: pinned first, then the most searched (10)",
        responses={200: SearchKeywordsOutputSerializer},
    )
    def get(self, request: Request) -> Response:
        keywords, _ = catalog_cached(
            catalog_cache_key("search-hot"),
            search.search_hot_keywords,
            timeout=HOT_KEYWORDS_CACHE_SECONDS,
        )
        return Response({"keywords": keywords})


class SearchRecentApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["catalog"],
        summary="The shopper's recent searches, newest first (10)",
        responses={200: SearchKeywordsOutputSerializer, **errors("not_authenticated")},
    )
    def get(self, request: Request) -> Response:
        return Response({"keywords": search.search_recent_list(member_id=request.user.pk)})

    @extend_schema(
        tags=["catalog"],
        summary="Forget the shopper's recent searches",
        responses={204: None, **errors("not_authenticated")},
    )
    def delete(self, request: Request) -> Response:
        search.search_recent_clear(member_id=request.user.pk)
        return Response(status=204)
