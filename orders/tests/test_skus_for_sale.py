"""skus_for_sale: the one plain-SQL read of the SKUs pricing and the order snapshot use agrees
with the model helpers (availability through the category tree, spec text, image, categories)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog.models import Category
from catalog.tests.factories import CategoryFactory, ProductFactory, SkuFactory
from orders.selectors import (
    sku_category_ids,
    sku_image_url,
    sku_is_available,
    sku_spec_text,
    skus_for_sale,
)

pytestmark = pytest.mark.django_db


def _tree(depth: int) -> list[Category]:
    chain = [CategoryFactory()]
    for _ in range(depth - 1):
        chain.append(CategoryFactory(parent=chain[-1]))
    return chain  # root first


def _agrees(sku) -> None:
    sku.refresh_from_db()
    sold = skus_for_sale(sku_ids=[sku.pk])[sku.pk]
    assert sold.available == sku_is_available(sku)
    assert sold.category_ids == sku_category_ids(sku)
    assert sold.spec_text == sku_spec_text(sku)
    assert sold.image_url == sku_image_url(sku)
    assert (sold.price_fen, sold.stock, sold.weight_g, sold.title) == (
        sku.price_fen,
        sku.stock,
        sku.weight_g,
        sku.product.title,
    )


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("hidden", [None, 0, -1])
def test_category_tree_hides_and_lists_ancestors(depth, hidden):
    chain = _tree(depth)
    if hidden is not None:
        chain[hidden].is_visible = False
        chain[hidden].save()
    sku = SkuFactory(product=ProductFactory(category=chain[-1]))
    sold = skus_for_sale(sku_ids=[sku.pk])[sku.pk]
    assert sold.available is (hidden is None)
    assert sold.category_ids == tuple(c.pk for c in reversed(chain))
    _agrees(sku)


def test_deeper_tree_than_max_depth_is_judged_by_walking_up():
    chain = _tree(Category.MAX_DEPTH + 1)  # imported data can be deeper than the admin allows
    chain[0].is_visible = False
    chain[0].save()
    sku = SkuFactory(product=ProductFactory(category=chain[-1]))
    sold = skus_for_sale(sku_ids=[sku.pk])[sku.pk]
    assert sold.available is False
    assert sold.category_ids == tuple(c.pk for c in reversed(chain))


def test_off_shelf_and_inactive():
    off_shelf = SkuFactory(product=ProductFactory(is_on_shelf=False))
    inactive = SkuFactory(is_active=False)
    sold = skus_for_sale(sku_ids=[off_shelf.pk, inactive.pk, 10**9])
    assert set(sold) == {off_shelf.pk, inactive.pk}  # an unknown id is left out
    assert not sold[off_shelf.pk].available
    assert not sold[inactive.pk].available


def test_spec_text_from_specs_when_no_key_and_images_in_order(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    sku = SkuFactory(specs={"颜色": "红"}, spec_key="")
    assert skus_for_sale(sku_ids=[sku.pk])[sku.pk].spec_text == "颜色:红"
    assert skus_for_sale(sku_ids=[sku.pk])[sku.pk].image_url == ""
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 16
    sku.product.main_image.save("main.png", SimpleUploadedFile("main.png", png))
    assert skus_for_sale(sku_ids=[sku.pk])[sku.pk].image_url.endswith("main.png")
    sku.image.save("own.png", SimpleUploadedFile("own.png", png))
    assert skus_for_sale(sku_ids=[sku.pk])[sku.pk].image_url.endswith("own.png")
    _agrees(sku)
