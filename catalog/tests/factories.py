import factory

from catalog.models import Category, Product, Sku


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
