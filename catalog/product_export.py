"""Export of products in the columns `import_products` reads, so export → import round-trips.

One row per SKU, ordered by product then SKU; streamed from the database in chunks.
"""

from collections.abc import Iterator
from typing import Any

from mall.money import yuan

from .models import Category, Sku
from .product_import import HEADERS, specs_format

EXPORT_CHUNK_SIZE = 2000


def _category_paths() -> dict[int, str]:
    """ "茶叶/绿茶" for every category (the tree is small: a few hundred nodes at most)."""
    nodes = dict(Category.objects.values_list("id", "name"))
    parents = dict(Category.objects.values_list("id", "parent_id"))
    paths: dict[int, str] = {}
    for category_id in nodes:
        names: list[str] = []
        current: int | None = category_id
        while current is not None and len(names) <= Category.MAX_DEPTH:
            names.append(nodes[current])
            current = parents[current]
        paths[category_id] = "/".join(reversed(names))
    return paths


def products_export_rows() -> Iterator[list[Any]]:
    """The header, then one row per SKU."""
    yield list(HEADERS)
    paths = _category_paths()
    skus = (
        Sku.objects.select_related("product__brand")
        .prefetch_related("product__tags")
        .order_by("product_id", "id")
        .iterator(chunk_size=EXPORT_CHUNK_SIZE)
    )
    for sku in skus:
        product = sku.product
        yield [
            product.title,
            product.subtitle,
            paths.get(product.category_id, ""),
            product.brand.name if product.brand else "",
            ",".join(sorted(tag.name for tag in product.tags.all())),
            sku.code,
            specs_format(sku.specs or {}),
            yuan(sku.price_fen),
            yuan(sku.original_price_fen) if sku.original_price_fen else "",
            sku.stock,
            sku.weight_g,
            "是" if product.is_on_shelf else "否",
            product.detail_html,
        ]
