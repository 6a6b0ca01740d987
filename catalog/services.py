"""Catalogue writes: products, SKUs' derived fields, categories, brands, tags.

Every change a shopper can see ends with catalog_cache_bump(), so cached lists, details and the
category tree are re-read. Stock moves live in catalog.stock; search tokens in catalog.search.
"""

from collections.abc import Iterable, Sequence

import nh3
from django.db import transaction
from django.db.models import Max, Min, QuerySet
from django.utils import timezone

from mall.errors import CategoryParentInvalid, CategoryTooDeep, PriceAdjustInvalid
from mall.money import BASIS_POINTS, mul_div_round_half_up

from .cache import catalog_cache_bump
from .models import Brand, Category, Product, Sku, Tag
from .search import product_search_text
from .specs import (
    dimension_names,
    sku_spec_key,
    sku_specs_validate,
    spec_dimension_order,
    spec_dimensions,
)

__all__ = [
    "brand_save",
    "catalog_cache_bump",
    "catalog_objects_deleted",
    "category_parent_validate",
    "category_save",
    "product_category_set",
    "product_detail_sanitize",
    "product_price_adjust",
    "product_refresh_derived",
    "product_save",
    "product_shelf_set",
    "products_search_text_refresh",
    "sku_spec_key",
    "sku_specs_validate",
    "spec_dimension_order",
    "tag_save",
]

# --- rich detail HTML ---
DETAIL_ALLOWED_TAGS = frozenset(
    {
        *("p", "br", "span", "strong", "em", "b", "i", "u", "div", "blockquote", "hr"),
        *("ul", "ol", "li", "h1", "h2", "h3", "h4", "img"),
        *("table", "thead", "tbody", "tr", "th", "td", "caption"),
    }
)
DETAIL_ALLOWED_ATTRIBUTES = {
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
# Only http(s) and relative URLs survive: no javascript:, no data: (inline payloads).
_detail_cleaner = nh3.Cleaner(
    tags=set(DETAIL_ALLOWED_TAGS),
    attributes={tag: set(names) for tag, names in DETAIL_ALLOWED_ATTRIBUTES.items()},
    url_schemes={"http", "https"},
    clean_content_tags={"script", "style"},
    strip_comments=True,
)


def product_detail_sanitize(html: str) -> str:
    """The merchant's detail HTML with only safe tags: no scripts, on* handlers or js: URLs."""
    return _detail_cleaner.clean(html or "")


# --- products ---
def _products_with_search_relations() -> QuerySet[Product]:
    return Product.objects.select_related("category__parent__parent", "brand").prefetch_related(
        "tags"
    )


@transaction.atomic
def product_refresh_derived(*, product_id: int, dimension_order: Sequence[str] = ()) -> Product:
    """Recompute what is derived from the SKUs and relations: spec_dimensions, each SKU's
    spec_key, min/max/original price over the active SKUs, search_text. Bumps the cache.

    Dimension order: the product's current order, then `dimension_order` (the order the
    merchant typed, for new dimensions), then first appearance over the SKUs by id.
    Raises: SpecInvalid, SpecInconsistent, SpecDuplicate (nothing is written).
    """
    Product.objects.select_for_update().filter(pk=product_id).values_list("pk").get()
    product = _products_with_search_relations().get(pk=product_id)
    skus = list(Sku.objects.filter(product_id=product_id).order_by("id"))
    active = [sku for sku in skus if sku.is_active]
    sku_specs_validate(specs_list=[sku.specs for sku in active])

    order = spec_dimension_order(
        [sku.specs for sku in skus], [*dimension_names(product.spec_dimensions), *dimension_order]
    )
    changed = []
    for sku in skus:
        key = sku_spec_key(sku.specs, order)
        if sku.spec_key != key:
            sku.spec_key = key
            changed.append(sku)
    # Inactive SKUs first: a retired SKU may hold nothing unique, an active one may.
    changed.sort(key=lambda sku: sku.is_active)
    Sku.objects.bulk_update(changed, ["spec_key"])

    product.spec_dimensions = spec_dimensions([sku.specs for sku in active], order)
    product.min_price_fen = min((sku.price_fen for sku in active), default=0)
    product.max_price_fen = max((sku.price_fen for sku in active), default=0)
    product.original_price_fen = max((sku.original_price_fen for sku in active), default=0)
    product.search_text = product_search_text(product)
    product.updated_at = timezone.now()
    Product.objects.filter(pk=product_id).update(
        spec_dimensions=product.spec_dimensions,
        min_price_fen=product.min_price_fen,
        max_price_fen=product.max_price_fen,
        original_price_fen=product.original_price_fen,
        search_text=product.search_text,
        updated_at=product.updated_at,
    )
    catalog_cache_bump()
    return product


def products_search_text_refresh(*, product_ids: Iterable[int]) -> int:
    """Recompute search_text of many products (after a category, brand or tag is renamed)."""
    updated = []
    ids = list(product_ids)
    for start in range(0, len(ids), 500):
        batch = list(_products_with_search_relations().filter(pk__in=ids[start : start + 500]))
        for product in batch:
            text = product_search_text(product)
            if text != product.search_text:
                product.search_text = text
                updated.append(product)
    Product.objects.bulk_update(updated, ["search_text"], batch_size=500)
    if updated:
        catalog_cache_bump()
    return len(updated)


def product_save(*, product: Product, update_fields: Sequence[str] | None = None) -> Product:
    """Save a product edited by the merchant (only `update_fields` of an existing one); the
    detail HTML is sanitised first.

    Call product_refresh_derived afterwards, once its SKUs and tags are saved too.
    """
    product.detail_html = product_detail_sanitize(product.detail_html)
    if product.pk is not None and update_fields is not None:
        product.save(update_fields=[*dict.fromkeys([*update_fields, "updated_at"])])
    else:
        product.save()
    catalog_cache_bump()
    return product


def product_shelf_set(*, product_ids: Iterable[int], is_on_shelf: bool) -> int:
    """Put products on or off the shelf; returns how many changed."""
    changed = (
        Product.objects.filter(pk__in=list(product_ids))
        .exclude(is_on_shelf=is_on_shelf)
        .update(is_on_shelf=is_on_shelf, updated_at=timezone.now())
    )
    if changed:
        catalog_cache_bump()
    return changed


@transaction.atomic
def product_category_set(*, product_ids: Iterable[int], category_id: int) -> int:
    """Move products to a category (its name is part of their search text); returns how many."""
    ids = list(product_ids)
    category = Category.objects.get(pk=category_id)
    changed = (
        Product.objects.filter(pk__in=ids)
        .exclude(category=category)
        .update(category=category, updated_at=timezone.now())
    )
    products_search_text_refresh(product_ids=ids)
    catalog_cache_bump()
    return changed


PRICE_ADJUST_MIN_BP = -BASIS_POINTS + 1  # -99.99%: a price never reaches 0
PRICE_ADJUST_MAX_BP = 10 * BASIS_POINTS  # +1000%: a typo guard


@transaction.atomic
def product_price_adjust(*, product_ids: Iterable[int], percent_bp: int) -> int:
    """Change the price of every SKU of the products by percent_bp basis points (-1000 = -10%),
    rounded half up, never below 1 fen; the 划线价 is untouched. Returns the SKUs changed.

    Raises: PriceAdjustInvalid.
    """
    if not PRICE_ADJUST_MIN_BP <= percent_bp <= PRICE_ADJUST_MAX_BP:
        raise PriceAdjustInvalid(percent_bp=percent_bp)
    ids = list(product_ids)
    skus = list(
        Sku.objects.select_for_update().filter(product_id__in=ids).order_by("pk").only("price_fen")
    )
    changed = []
    for sku in skus:
        price = max(
            1, mul_div_round_half_up(sku.price_fen, BASIS_POINTS + percent_bp, BASIS_POINTS)
        )
        if price != sku.price_fen:
            sku.price_fen = price
            changed.append(sku)
    Sku.objects.bulk_update(changed, ["price_fen"], batch_size=500)
    _products_prices_refresh(product_ids=ids)
    catalog_cache_bump()
    return len(changed)


def _products_prices_refresh(*, product_ids: Sequence[int]) -> None:
    """min/max/original price of many products from their active SKUs, in two queries."""
    prices = {
        row["product_id"]: row
        for row in Sku.objects.filter(product_id__in=product_ids, is_active=True)
        .values("product_id")
        .annotate(low=Min("price_fen"), high=Max("price_fen"), original=Max("original_price_fen"))
    }
    products = list(Product.objects.filter(pk__in=product_ids).only("pk"))
    for product in products:
        row = prices.get(product.pk, {})
        product.min_price_fen = row.get("low") or 0
        product.max_price_fen = row.get("high") or 0
        product.original_price_fen = row.get("original") or 0
    Product.objects.bulk_update(
        products, ["min_price_fen", "max_price_fen", "original_price_fen"], batch_size=500
    )


# --- categories, brands, tags ---
def _category_parents() -> dict[int, int | None]:
    return dict(Category.objects.values_list("id", "parent_id"))


def category_parent_validate(*, category: Category, parent: Category | None) -> None:
    """A category may sit under `parent`: not itself or below itself, tree depth ≤ 3.

    Raises: CategoryParentInvalid, CategoryTooDeep.
    """
    parents = _category_parents()
    depth_of_parent = 0
    node = parent.pk if parent is not None else None
    while node is not None:
        if category.pk is not None and node == category.pk:
            raise CategoryParentInvalid(category_id=category.pk, parent_id=parent and parent.pk)
        depth_of_parent += 1
        node = parents.get(node)
        if depth_of_parent > len(parents):  # a cycle already stored: refuse to add to it
            raise CategoryParentInvalid(parent_id=parent and parent.pk)
    height = 1  # levels in the subtree rooted at `category` (1 for a leaf or a new node)
    if category.pk is not None:
        children: dict[int | None, list[int]] = {}
        for node_id, parent_id in parents.items():
            children.setdefault(parent_id, []).append(node_id)
        level, frontier = 1, children.get(category.pk, [])
        while frontier:
            level += 1
            frontier = [child for node_id in frontier for child in children.get(node_id, [])]
        height = level
    if depth_of_parent + height > Category.MAX_DEPTH:
        raise CategoryTooDeep(max_depth=Category.MAX_DEPTH, depth=depth_of_parent + height)


@transaction.atomic
def category_save(*, category: Category) -> Category:
    """Create or update a category (depth and parent checked); renames refresh search text.

    Raises: CategoryParentInvalid, CategoryTooDeep.
    """
    category_parent_validate(category=category, parent=category.parent)
    old_name = (
        Category.objects.filter(pk=category.pk).values_list("name", flat=True).first()
        if category.pk
        else None
    )
    category.save()
    if old_name is not None and old_name != category.name:
        # The category path is in search_text: this category's and its descendants' products.
        parents = _category_parents()
        subtree, frontier = {category.pk}, [category.pk]
        while frontier:
            frontier = [node for node, parent in parents.items() if parent in frontier]
            subtree.update(frontier)
        products_search_text_refresh(
            product_ids=Product.objects.filter(category_id__in=subtree).values_list("pk", flat=True)
        )
    catalog_cache_bump()
    return category


@transaction.atomic
def brand_save(*, brand: Brand) -> Brand:
    """Create or update a brand; a rename refreshes its products' search text."""
    old_name = Brand.objects.filter(pk=brand.pk).values_list("name", flat=True).first()
    brand.save()
    if old_name is not None and old_name != brand.name:
        products_search_text_refresh(
            product_ids=Product.objects.filter(brand=brand).values_list("pk", flat=True)
        )
    catalog_cache_bump()
    return brand


@transaction.atomic
def tag_save(*, tag: Tag) -> Tag:
    """Create or update a tag; a rename refreshes its products' search text."""
    old_name = Tag.objects.filter(pk=tag.pk).values_list("name", flat=True).first()
    tag.save()
    if old_name is not None and old_name != tag.name:
        products_search_text_refresh(product_ids=tag.products.values_list("pk", flat=True))
    catalog_cache_bump()
    return tag


def catalog_objects_deleted() -> None:
    """Products, categories, brands or tags were deleted in the admin: drop cached answers."""
    catalog_cache_bump()
