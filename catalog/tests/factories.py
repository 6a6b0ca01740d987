import factory

from catalog.models import Brand, Category, Product, Sku, Tag
from catalog.services import product_refresh_derived


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"分类{n}")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    title = factory.Sequence(lambda n: f"商品{n}")
    category = factory.SubFactory(CategoryFactory)
    is_on_shelf = True
    min_price_fen = 1999
    max_price_fen = 1999


class SkuFactory(factory.django.DjangoModelFactory):
    """Explicit amounts in tests: SkuFactory(price_fen=1999, stock=5)."""

    class Meta:
        model = Sku

    product = factory.SubFactory(ProductFactory)
    code = factory.Sequence(lambda n: f"SKU{n:06d}")
    specs = factory.Sequence(lambda n: {"规格": f"款式{n}"})
    spec_key = factory.LazyAttribute(lambda sku: "|".join(f"{k}:{v}" for k, v in sku.specs.items()))
    price_fen = 1999
    stock = 100


class BrandFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Brand
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"品牌{n}")


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"标签{n}")


def product_with_skus(*, skus: list[dict], tags: tuple[str, ...] = (), **fields) -> Product:
    """A product with the given SKUs (SkuFactory kwargs) and tag names, derived fields
    computed by the service: product_with_skus(title="龙井", skus=[{"price_fen": 1999}])."""
    product = ProductFactory(**fields)
    if tags:
        product.tags.set([TagFactory(name=name) for name in tags])
    for sku in skus:
        SkuFactory(product=product, **sku)
    # The order the test wrote the first SKU's specs in (jsonb does not keep it).
    order = list(skus[0].get("specs", {})) if skus else []
    product_refresh_derived(product_id=product.pk, dimension_order=order)
    product.refresh_from_db()
    return product
