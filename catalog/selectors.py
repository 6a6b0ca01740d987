"""Catalogue reads for shoppers: the category tree, product lists and the product detail.

A shopper sees a product when it is on the shelf, has an active SKU, and its category and every
ancestor of it are visible. Visibility is resolved in Python from one query over the (small)
category table, so it holds at any depth and the product queries need no joins.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet

from . import sql
from .cache import catalog_cache_key, catalog_cached, catalog_stock_levels_cached
from .models import Category, Product, ProductImage, Sku, Tag
from .search import product_search_filter
from .specs import dimension_names, spec_matrix
from .sql import products_ranked_by_scores


@dataclass
class CategoryNode:
    id: int
    parent_id: int | None
    name: str
    icon: str
    children: list["CategoryNode"] = field(default_factory=list)


def _file_url(field_file: Any) -> str:
    return field_file.url if field_file else ""


def category_visible_map() -> dict[int, CategoryNode]:
    """Every category a shopper may see (itself and all its ancestors visible), by id, in tree
    order (sort_order, id), children linked. One query."""
    rows = list(Category.objects.order_by("sort_order", "id"))
    by_id = {category.pk: category for category in rows}
    effective: dict[int, bool] = {}

    def is_visible(category_id: int) -> bool:
        if category_id not in effective:
            category = by_id[category_id]
            effective[category_id] = False  # a stored cycle counts as hidden
            parent_ok = category.parent_id is None or (
                category.parent_id in by_id and is_visible(category.parent_id)
            )
            effective[category_id] = category.is_visible and parent_ok
        return effective[category_id]

    nodes = {
        category.pk: CategoryNode(
            id=category.pk,
            parent_id=category.parent_id,
            name=category.name,
            icon=_file_url(category.icon),
        )
        for category in rows
        if is_visible(category.pk)
    }
    for node in nodes.values():
        if node.parent_id is not None:
            nodes[node.parent_id].children.append(node)
    return nodes


def category_visible_map_cached() -> dict[int, CategoryNode]:
    """category_visible_map() from the catalogue cache (any category change bumps it)."""
    nodes, _ = catalog_cached(catalog_cache_key("category-visible-map"), category_visible_map)
    return nodes


def category_tree() -> list[CategoryNode]:
    """The visible category tree, roots first, each level in (sort_order, id) order."""
    return [node for node in category_visible_map().values() if node.parent_id is None]


def category_descendant_ids(
    *, category_id: int, visible: Mapping[int, CategoryNode] | None = None
) -> list[int]:
    """The category and its visible descendants; [] when it is hidden or unknown."""
    nodes = category_visible_map_cached() if visible is None else visible
    if category_id not in nodes:
        return []
    found, frontier = [], [nodes[category_id]]
    while frontier:
        found.extend(node.id for node in frontier)
        frontier = [child for node in frontier for child in node.children]
    return found


def category_path(*, category_id: int, visible: Mapping[int, CategoryNode]) -> list[dict[str, Any]]:
    """[{"id", "name"}] from the root down to the category."""
    path = []
    node = visible.get(category_id)
    while node is not None:
        path.append({"id": node.id, "name": node.name})
        node = visible.get(node.parent_id) if node.parent_id is not None else None
    return path[::-1]


def _active_sku_exists(**extra: Any) -> Exists:
    return Exists(Sku.objects.filter(product_id=OuterRef("pk"), is_active=True, **extra))


def product_in_stock_exists() -> Exists:
    """Some active SKU of the product has stock."""
    return _active_sku_exists(stock__gt=0)


def product_low_stock_exists() -> Exists:
    """Some active SKU of the product is at or below its low-stock threshold (库存预警)."""
    return _active_sku_exists(stock__lte=F("low_stock_threshold"))


def product_visible_to_shoppers(
    visible: Mapping[int, CategoryNode] | None = None,
) -> QuerySet[Product]:
    """Products a shopper may see: on the shelf, category path visible, some active SKU."""
    nodes = category_visible_map_cached() if visible is None else visible
    return Product.objects.filter(is_on_shelf=True, category_id__in=list(nodes)).filter(
        _active_sku_exists()
    )


ORDERINGS: dict[str, tuple[str, ...]] = {
    "sales": ("-sales_count", "-id"),
    "price": ("min_price_fen", "-id"),
    "-price": ("-min_price_fen", "-id"),
    "newest": ("-created_at", "-id"),
}
DEFAULT_ORDERING = ("-sort_weight", "-sales_count", "-id")
SEARCH_ORDERING = ("-search_rank", "-sales_count", "-id")
LIST_FIELDS = (
    "id",
    "title",
    "subtitle",
    "main_image",
    "main_image_thumb",
    "min_price_fen",
    "max_price_fen",
    "original_price_fen",
    "sales_count",
)


def product_list_for_shoppers(
    *,
    category_id: int | None = None,
    min_price_fen: int | None = None,
    max_price_fen: int | None = None,
    tag: str | None = None,
    in_stock: bool = False,
    q: str | None = None,
    ordering: str | None = None,
) -> QuerySet[Product]:
    """The shopper's product list, filtered and ordered, annotated with `has_stock`, tags
    prefetched. Queries, whatever the page size: the categories (unless cached), then when
    evaluated the page and the tags (and a count when paginated).

    category includes its descendants; prices are fen on min_price_fen; tag is a tag name;
    q searches (see catalog.search) and orders by relevance unless `ordering` is given.
    """
    visible = category_visible_map_cached()
    queryset = product_visible_to_shoppers(visible)
    if category_id is not None:
        queryset = queryset.filter(
            category_id__in=category_descendant_ids(category_id=category_id, visible=visible)
        )
    if min_price_fen is not None:
        queryset = queryset.filter(min_price_fen__gte=min_price_fen)
    if max_price_fen is not None:
        queryset = queryset.filter(min_price_fen__lte=max_price_fen)
    if tag:
        queryset = queryset.filter(tags__name=tag)
    if in_stock:
        queryset = queryset.filter(product_in_stock_exists())
    order_by = ORDERINGS.get(ordering or "", DEFAULT_ORDERING)
    if q and q.strip():
        queryset = product_search_filter(queryset, q)
        if not ordering:
            order_by = SEARCH_ORDERING
    return (
        queryset.annotate(has_stock=product_in_stock_exists())
        .only(*LIST_FIELDS)
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.only("id", "name")))
        .order_by(*order_by)
    )


def product_detail_get(*, product_id: int) -> Product:
    """A product a shopper may see, with brand, active SKUs (`active_skus`, by id), images,
    tags, `category_path` ([{"id", "name"}] root first) and `dimension_order` (spec names in
    display order). Five queries (four when the categories are cached).

    Raises: Product.DoesNotExist when it is unknown, off the shelf, hidden, or has no active SKU.
    """
    visible = category_visible_map_cached()
    product = (
        product_visible_to_shoppers(visible)
        .select_related("brand")
        .prefetch_related(
            Prefetch(
                "skus",
                queryset=Sku.objects.filter(is_active=True).order_by("id"),
                to_attr="active_skus",
            ),
            Prefetch("images", queryset=ProductImage.objects.order_by("sort_order", "id")),
            Prefetch("tags", queryset=Tag.objects.only("id", "name")),
        )
        .get(pk=product_id)
    )
    product.category_path = category_path(category_id=product.category_id, visible=visible)
    product.dimension_order = dimension_names(product.spec_dimensions)
    return product


def sku_get(*, sku_id: int, related: Sequence[str] = ()) -> Sku | None:
    """The SKU with these relations loaded (select_related paths); None when there is no such SKU."""
    return Sku.objects.select_related(*related).filter(pk=sku_id).first()


def sku_low_stock_count() -> int:
    """How many active SKUs are at or under their low-stock threshold."""
    return Sku.objects.filter(is_active=True, stock__lte=F("low_stock_threshold")).count()


def products_best_selling(*, limit: int) -> list[Product]:
    """The products on the shelf, best sellers first (newest first among equals)."""
    return list(Product.objects.filter(is_on_shelf=True).order_by("-sales_count", "-id")[:limit])


def sku_stock_levels(*, product_id: int) -> dict[int, int]:
    """{sku_id: stock} of the product's active SKUs for a cached detail: this process's copy
    when under a second old (catalog.cache.catalog_stock_levels_cached), else one prepared
    statement. Never modify the answer."""
    return catalog_stock_levels_cached(
        product_id, lambda: dict(sql.sku_stock_level_rows(product_id=product_id))
    )


def sku_pay_prices(
    *,
    skus: Sequence[Mapping[str, Any]],
    member_id: int | None,
    limited_time: Mapping[int, tuple[int, datetime, int]] | None = None,
) -> dict[int, int]:
    """{sku_id: the price this shopper pays before coupons}.

    EXTENSION POINT for member-level and flash-sale prices: today it is the SKU price. Those
    prices live in members and marketing, which catalog must not import (imports point
    catalog ← members ← marketing), so the detail API (an interface, free to call any app)
    will pass in their results here, e.g. `flash_prices: Mapping[int, int]`; this stays the
    one place that decides which price wins. It runs per request, after the cache, so a
    member-specific price is never cached for another shopper.

    limited_time: {sku_id: (price_fen, ends_at, campaign_id)} of live 限时折扣 campaigns
    (marketing's `limited_time_prices_for_skus`); the lower price wins.
    """
    limited_time = limited_time or {}
    return {
        sku["id"]: min(sku["price_fen"], limited_time.get(sku["id"], (sku["price_fen"],))[0])
        for sku in skus
    }


def product_detail_assemble(
    *,
    base: Mapping[str, Any],
    stock_levels: Mapping[int, int] | None,
    member_id: int | None,
    limited_time: Mapping[int, tuple[int, datetime, int]] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The detail answer from its cacheable base (ProductDetailBaseOutputSerializer's data plus
    `dimension_order`): fresh stock (when given), the spec matrix, each SKU's pay price and
    the price summary. limited_time (see sku_pay_prices) adds each such SKU's "promotion"
    with its countdown (`seconds_left` at `now`); SKUs without one have no such key."""
    limited_time = limited_time or {}
    skus = []
    for sku in base["skus"]:
        stock = sku["stock"] if stock_levels is None else stock_levels.get(sku["id"], 0)
        skus.append({**sku, "stock": stock, "in_stock": stock > 0})
    pay_prices = sku_pay_prices(skus=skus, member_id=member_id, limited_time=limited_time)
    for sku in skus:
        sku["pay_price_fen"] = pay_prices[sku["id"]]
        if sku["id"] in limited_time and now is not None:
            price_fen, ends_at, campaign_id = limited_time[sku["id"]]
            sku["promotion"] = {
                "kind": "limited_time",
                "campaign_id": campaign_id,
                "price_fen": price_fen,
                "ends_at": ends_at,
                "seconds_left": max(0, int((ends_at - now).total_seconds())),
            }
    buyable = [sku for sku in skus if sku["in_stock"]] or skus
    prices = [sku["price_fen"] for sku in skus]
    public = {key: value for key, value in base.items() if key != "dimension_order"}
    return {
        **public,
        "skus": skus,
        "specs": spec_matrix(skus, base.get("dimension_order", ())),
        "price": {
            "min_price_fen": min(prices, default=0),
            "max_price_fen": max(prices, default=0),
            "pay_price_fen": min((sku["pay_price_fen"] for sku in buyable), default=0),
        },
    }


def sku_sale_rows(*, sku_ids: list[int]) -> list[tuple[Any, ...]]:
    """What checkout needs of each known SKU in one prepared statement, as plain rows (the
    column order is catalog.sql.skus_for_sale_rows'): the ORM's query building cost more than the
    query on this path."""
    return sql.skus_for_sale_rows(sku_ids=sku_ids)


def product_ids_by_category_subtree(*, category_ids: Iterable[int]) -> dict[int, list[int]]:
    """{category id: ids of its products and of its children's and grandchildren's, ascending}
    for these categories (the three levels of the tree; a category without any is left out).
    One query."""
    wanted = set(category_ids)
    if not wanted:
        return {}
    rows = (
        Product.objects.filter(
            Q(category_id__in=wanted)
            | Q(category__parent_id__in=wanted)
            | Q(category__parent__parent_id__in=wanted)
        )
        .order_by("pk")
        .values_list("pk", "category_id", "category__parent_id", "category__parent__parent_id")
    )
    found: dict[int, list[int]] = {}
    for product_id, *path in rows:
        for category_id in wanted.intersection(path):
            found.setdefault(category_id, []).append(product_id)
    return found


def products_related_ranked(
    *, scores: Mapping[int, int], seed_product_ids: Sequence[int], limit: int
) -> list[tuple[Product, bool]]:
    """At most `limit` (product, scored) on the shelf, never a seed: first the scored products
    (`scores`: {product id: score}, higher first), then the other products of the seeds'
    categories; ties by sales, then id. One query."""
    return products_ranked_by_scores(scores=scores, seed_product_ids=seed_product_ids, limit=limit)
