from django.db import models
from django.utils import timezone


class Category(models.Model):
    """A node of the category tree (at most three levels). Hidden nodes hide their products."""

    MAX_DEPTH = 3

    name = models.CharField("名称", max_length=40)
    parent = models.ForeignKey(
        "self",
        verbose_name="上级分类",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    icon = models.ImageField("图标", upload_to="categories/", blank=True)
    sort_order = models.IntegerField("排序", default=0, help_text="小的在前")
    is_visible = models.BooleanField("显示", default=True)
    created_at = models.DateTimeField("创建时间", default=timezone.now)

    class Meta:
        verbose_name = "分类"
        verbose_name_plural = "分类"
        ordering = ["sort_order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["parent", "name"], name="category_unique_name_per_parent"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Brand(models.Model):
    name = models.CharField("品牌", max_length=60, unique=True)
    logo = models.ImageField("Logo", upload_to="brands/", blank=True)

    class Meta:
        verbose_name = "品牌"
        verbose_name_plural = "品牌"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField("标签", max_length=20, unique=True)

    class Meta:
        verbose_name = "标签"
        verbose_name_plural = "标签"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    """A product (SPU). What is sold and stocked is its SKUs; prices here are their min/max."""

    title = models.CharField("标题", max_length=120)
    subtitle = models.CharField("副标题", max_length=200, blank=True)
    category = models.ForeignKey(
        Category, verbose_name="分类", on_delete=models.PROTECT, related_name="products"
    )
    brand = models.ForeignKey(
        Brand,
        verbose_name="品牌",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="products",
    )
    tags = models.ManyToManyField(Tag, verbose_name="标签", blank=True, related_name="products")
    main_image = models.ImageField("主图", upload_to="products/", blank=True)
    main_image_thumb = models.ImageField(
        "主图缩略图", upload_to="products/thumbs/", blank=True, editable=False
    )
    detail_html = models.TextField("详情", blank=True, help_text="保存时自动清理不安全的 HTML")
    # Spec dimensions in display order, e.g. [{"name": "颜色", "values": ["红", "蓝"]}]; derived from the SKUs.
    spec_dimensions = models.JSONField("规格", default=list, blank=True, editable=False)
    is_on_shelf = models.BooleanField("上架", default=False, db_index=True)
    sort_weight = models.IntegerField("排序权重", default=0, help_text="大的在前")
    sales_count = models.PositiveIntegerField("销量", default=0)
    # Denormalised from the active SKUs by catalog services, so lists filter and sort without joins.
    min_price_fen = models.PositiveBigIntegerField("最低价(分)", default=0, editable=False)
    max_price_fen = models.PositiveBigIntegerField("最高价(分)", default=0, editable=False)
    # The highest 划线价 of the active SKUs (0 = none shown).
    original_price_fen = models.PositiveBigIntegerField("划线价(分)", default=0, editable=False)
    # Bigram/unigram tokens: "<title tokens> | <subtitle, tags, category, brand tokens>". On
    # PostgreSQL the column search_vector (generated from this, GIN-indexed, not a model field:
    # migration 0003) weights the title part higher. See catalog/search.py.
    search_text = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField("创建时间", default=timezone.now, db_index=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "商品"
        verbose_name_plural = "商品"
        ordering = ["-sort_weight", "-id"]
        indexes = [
            # The shopper list's default order: the first page is an index walk, not a sort.
            models.Index(
                fields=["is_on_shelf", "-sort_weight", "-sales_count", "-id"],
                name="product_shelf_default_order",
            ),
            models.Index(fields=["is_on_shelf", "-sales_count"], name="product_shelf_sales"),
            models.Index(fields=["is_on_shelf", "min_price_fen"], name="product_shelf_price"),
        ]

    def __str__(self) -> str:
        return self.title


class ProductImage(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    image = models.ImageField("图片", upload_to="products/gallery/")
    thumb_200 = models.ImageField(upload_to="products/thumbs/", blank=True, editable=False)
    thumb_750 = models.ImageField(upload_to="products/thumbs/", blank=True, editable=False)
    sort_order = models.IntegerField("排序", default=0)

    class Meta:
        verbose_name = "商品图片"
        verbose_name_plural = "商品图片"
        ordering = ["sort_order", "id"]

    def __str__(self) -> str:
        return self.image.name


class Sku(models.Model):
    """One sellable combination of spec values, with its own price and stock.

    `stock` is changed only by catalog.stock services, with conditional UPDATEs.
    """

    product = models.ForeignKey(
        Product, verbose_name="商品", on_delete=models.CASCADE, related_name="skus"
    )
    code = models.CharField("SKU 编码", max_length=64, unique=True)
    specs = models.JSONField(
        "规格值", default=dict, blank=True, help_text='如 {"颜色": "红", "尺码": "M"}'
    )
    # Canonical "颜色:红|尺码:M" in dimension order: one SKU per combination.
    spec_key = models.CharField(max_length=255, editable=False, default="")
    price_fen = models.PositiveBigIntegerField("售价(分)")
    original_price_fen = models.PositiveBigIntegerField("划线价(分)", default=0)
    stock = models.PositiveIntegerField("库存", default=0)
    low_stock_threshold = models.PositiveIntegerField("库存预警值", default=10)
    weight_g = models.PositiveIntegerField("重量(克)", default=0)
    image = models.ImageField("规格图", upload_to="skus/", blank=True)
    is_active = models.BooleanField("启用", default=True)
    sales_count = models.PositiveIntegerField("销量", default=0)

    class Meta:
        verbose_name = "SKU"
        verbose_name_plural = "SKU"
        ordering = ["product_id", "id"]
        constraints = [
            # One active SKU per combination; a retired (inactive) SKU may keep its old specs.
            models.UniqueConstraint(
                fields=["product", "spec_key"],
                condition=models.Q(is_active=True),
                name="sku_unique_active_combination",
            ),
            models.CheckConstraint(condition=models.Q(stock__gte=0), name="sku_stock_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.spec_key}".strip()


class StockLog(models.Model):
    """Append-only: every stock change with its reason, reference and the stock before/after."""

    class Reason(models.TextChoices):
        ORDER_RESERVE = "order_reserve", "下单占用"
        ORDER_RELEASE = "order_release", "取消/超时释放"
        REFUND_RESTOCK = "refund_restock", "退款回库"
        ADMIN_ADJUST = "admin_adjust", "后台调整"
        IMPORT = "import", "导入"
        FLASH_SALE = "flash_sale", "秒杀调拨"

    sku = models.ForeignKey(
        Sku, verbose_name="SKU", on_delete=models.CASCADE, related_name="stock_logs"
    )
    change = models.IntegerField("变动")
    stock_before = models.PositiveIntegerField("变动前")
    stock_after = models.PositiveIntegerField("变动后")
    reason = models.CharField("原因", max_length=20, choices=Reason.choices)
    reference = models.CharField("关联单号", max_length=64, blank=True)
    operator = models.CharField("操作人", max_length=64, blank=True)
    created_at = models.DateTimeField("时间", default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "库存流水"
        verbose_name_plural = "库存流水"
        ordering = ["-id"]
        # Looked up by exact reference (an order no): no LIKE index beside it (every order
        # writes a row per SKU into both).
        indexes = [models.Index(fields=["reference"], name="stocklog_reference")]

    def __str__(self) -> str:
        return f"{self.sku_id} {self.change:+d} ({self.reason})"


class SearchKeyword(models.Model):
    """Search counts per keyword, for the hot keywords shown under the search box."""

    keyword = models.CharField("关键词", max_length=40, unique=True)
    search_count = models.PositiveIntegerField("搜索次数", default=0)
    is_pinned = models.BooleanField("置顶推荐", default=False)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "搜索热词"
        verbose_name_plural = "搜索热词"
        ordering = ["-is_pinned", "-search_count"]

    def __str__(self) -> str:
        return self.keyword
