import io

import pytest

from catalog.demo import CATEGORIES, PRODUCTS, seed_demo
from catalog.models import Category, Product, ProductImage, Sku


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.mark.django_db(transaction=True)
def test_seed_demo_builds_a_catalogue_and_is_idempotent():
    # when
    seed_demo(io.StringIO())
    counts = (Product.objects.count(), Sku.objects.count(), ProductImage.objects.count())
    seed_demo(io.StringIO())

    # then
    assert (Product.objects.count(), Sku.objects.count(), ProductImage.objects.count()) == counts
    assert counts[0] == len(PRODUCTS) >= 60
    assert Category.objects.filter(parent__isnull=True).count() == len(CATEGORIES) >= 8
    tea = Product.objects.get(title="西湖龙井绿茶 2026 明前特级")
    assert tea.spec_dimensions == [{"name": "规格", "values": ["250g", "500g"]}]
    assert tea.min_price_fen == 26800
    assert "龙井" in tea.search_text
    shirt = Product.objects.filter(category__name="男装").first()
    assert {d["name"] for d in shirt.spec_dimensions} == {"颜色", "尺码"}
    assert shirt.skus.count() == 12
    assert not Product.objects.filter(main_image_thumb="").exists()  # thumbnails made (eager)
    assert not ProductImage.objects.filter(thumb_750="").exists()
