"""Catalogue benchmark: product list (page of 20), detail and search, as ratios to the bare view.

    .venv/bin/python bench/catalog.py                     # 10,000 products
    .venv/bin/python bench/catalog.py --products 100000   # 10,000, then 100,000

Seeds the benchmark database with products (3 SKUs each, search text built by catalog.search)
through bulk inserts, counts SQL per request in-process, then serves the shop with gunicorn and
measures each endpoint under the same load client; then the truly bare app (bench/bare_app.py)
with the same client, connections and duration. Goals (DESIGN.md): list ≥ 0.5× the in-stack bare
view with ≤ 4 SQL, detail ≥ 0.4× with ≤ 6 SQL, search p95 < 50 ms at 10,000 products; against
the truly bare app: list ≥ 0.6×, detail ≥ 0.5×, search ≥ 0.4×.
"""

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

# Run as a script, this file's folder comes first on sys.path, and this file would shadow the
# catalog app: put the repository root there instead.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import common  # noqa: E402

SKUS_PER_PRODUCT = 3
SKU_PREFIX = "BENCH-CAT-"  # bench/checkout.py uses BENCH-CO-
CHUNK = 2000
LIST_GOAL, DETAIL_GOAL, SEARCH_P95_GOAL_MS = 0.5, 0.4, 50.0  # × the in-stack bare view
TRULY_BARE_GOALS = {"list": 0.6, "detail": 0.5, "search": 0.4}  # × the truly bare app

VOCABULARY: dict[str, dict[str, list[str]]] = {
    "茶叶": {
        "绿茶": ["龙井绿茶", "碧螺春", "黄山毛峰", "安吉白茶", "信阳毛尖"],
        "红茶": ["正山小种", "祁门红茶", "滇红金芽", "金骏眉"],
        "乌龙茶": ["铁观音", "大红袍", "凤凰单丛", "冻顶乌龙"],
    },
    "零食": {
        "坚果": ["每日坚果", "碧根果", "纸皮核桃", "夏威夷果", "腰果"],
        "糕点": ["凤梨酥", "绿豆糕", "蛋黄酥", "鲜肉月饼"],
        "肉脯": ["猪肉脯", "牛肉干", "鸭脖", "鱿鱼丝"],
    },
    "美妆": {
        "护肤": ["补水面霜", "美白精华", "洁面乳", "防晒霜", "面膜"],
        "彩妆": ["口红", "粉底液", "眼影盘", "睫毛膏"],
    },
    "服饰": {
        "女装": ["连衣裙", "真丝衬衫", "阔腿裤", "针织开衫", "半身裙"],
        "男装": ["纯棉T恤", "休闲西裤", "羽绒服", "卫衣", "牛仔裤"],
        "鞋靴": ["运动鞋", "小白鞋", "马丁靴", "凉鞋"],
    },
    "数码配件": {
        "手机配件": ["快充充电器", "充电宝", "数据线", "手机壳", "钢化膜"],
        "耳机音箱": ["蓝牙耳机", "降噪耳机", "蓝牙音箱", "游戏耳机"],
    },
    "家居": {
        "收纳": ["收纳箱", "收纳盒", "压缩袋", "衣架"],
        "床品": ["四件套", "乳胶枕", "夏凉被", "蚕丝被"],
        "厨具": ["不粘锅", "菜刀", "保温杯", "电饭煲"],
    },
    "母婴": {
        "奶粉辅食": ["婴儿奶粉", "有机米粉", "宝宝溶豆", "果泥"],
        "婴童用品": ["纸尿裤", "婴儿湿巾", "儿童水杯", "安抚奶嘴"],
    },
    "生鲜水果": {
        "时令水果": ["赣南脐橙", "阳光玫瑰", "草莓", "芒果", "水蜜桃"],
        "进口水果": ["车厘子", "奇异果", "牛油果", "榴莲"],
    },
    "酒水饮料": {
        "白酒": ["酱香白酒", "浓香白酒", "清香白酒"],
        "咖啡": ["咖啡豆", "冻干咖啡", "挂耳咖啡", "冷萃咖啡"],
        "葡萄酒": ["干红葡萄酒", "起泡酒", "干白葡萄酒"],
    },
    "个护清洁": {
        "洗发护发": ["洗发水", "护发素", "发膜"],
        "家庭清洁": ["洗衣液", "洗洁精", "消毒湿巾", "垃圾袋"],
    },
}
ADJECTIVES = [
    "特级", "新款", "经典", "有机", "进口", "手工", "限量", "加厚", "便携", "高端", "家用",
    "儿童", "男士", "女士", "明前", "原味", "无糖", "大容量", "轻薄", "礼盒装",
]  # fmt: skip
SUBTITLES = [
    "产地直发，新鲜到家", "七天无理由退换", "买二送一，限时特惠", "顺丰包邮，次日达",
    "官方正品，假一赔十", "好评如潮，回购率高", "精选好物，品质保障", "送礼自用两相宜",
]  # fmt: skip
BRANDS = [
    f"{a}{b}"
    for a in ("华", "美", "优", "良", "恒", "佳", "泰", "和", "金", "正")
    for b in ("品", "源", "禾", "森", "康", "宜", "悦", "享", "尚", "惠")
]
TAGS = ["新品", "送礼佳品", "热卖", "包邮", "限时特惠"]
SPEC_VALUES = [
    ["250g", "500g", "1kg"],
    ["S", "M", "L"],
    ["曜石黑", "珍珠白", "远峰蓝"],
    ["单件装", "两件装", "三件装"],
]
SPEC_NAMES = ["规格", "尺码", "颜色", "规格"]
SEARCH_QUERIES = [
    "龙井", "绿茶", "茶", "龙井绿茶", "坚果", "核桃", "充电器", "蓝牙耳机", "耳机", "连衣裙",
    "T恤", "羽绒服", "收纳", "四件套", "奶粉", "纸尿裤", "车厘子", "脐橙", "咖啡", "白酒",
    "有机", "进口 红酒", "面膜", "口红", "洗衣液", "保温杯", "儿童", "礼盒装", "特级 红茶",
    "不存在的商品",
]  # fmt: skip


def _categories() -> list[tuple[Any, list[str], Any]]:
    """(leaf category, its nouns, its top category), created when missing."""
    from catalog.models import Category

    leaves = []
    for top_order, (top_name, children) in enumerate(VOCABULARY.items()):
        top, _ = Category.objects.get_or_create(
            parent=None, name=top_name, defaults={"sort_order": top_order}
        )
        for order, (name, nouns) in enumerate(children.items()):
            leaf, _ = Category.objects.get_or_create(
                parent=top, name=name, defaults={"sort_order": order}
            )
            leaves.append((leaf, nouns, top))
    return leaves


def catalogue_seed(target: int) -> int:
    """Bring the benchmark catalogue to `target` products (bulk inserts); returns how many
    were added. Products are keyed by their SKU codes, so a second run adds nothing."""
    from django.core.cache import cache
    from django.db import connection, transaction

    from catalog.models import Brand, Product, Sku, Tag
    from catalog.search import search_text_build
    from catalog.services import sku_spec_key

    have = Sku.objects.filter(code__startswith=SKU_PREFIX).count() // SKUS_PER_PRODUCT
    if have >= target:
        return 0
    leaves = _categories()
    brands = [Brand.objects.get_or_create(name=name)[0] for name in BRANDS]
    tags = [Tag.objects.get_or_create(name=name)[0] for name in TAGS]
    through = Product.tags.through
    rng = random.Random(have)
    began = time.monotonic()
    for start in range(have, target, CHUNK):
        stop = min(start + CHUNK, target)
        products, extras = [], []
        for index in range(start, stop):
            leaf, nouns, top = leaves[index % len(leaves)]
            brand = rng.choice(brands)
            product_tags = rng.sample(tags, rng.randint(0, 2))
            title = f"{brand.name} {rng.choice(ADJECTIVES)}{rng.choice(nouns)} {index}号"
            subtitle = rng.choice(SUBTITLES)
            spec = index % len(SPEC_VALUES)
            base = rng.randint(990, 99_900)
            prices = [base + step * rng.randint(500, 3000) for step in range(SKUS_PER_PRODUCT)]
            products.append(
                Product(
                    title=title,
                    subtitle=subtitle,
                    category=leaf,
                    brand=brand,
                    is_on_shelf=index % 20 != 0,
                    sort_weight=rng.choice([0, 0, 0, 5, 10]),
                    sales_count=int(rng.paretovariate(1.2) * 10),
                    spec_dimensions=[{"name": SPEC_NAMES[spec], "values": SPEC_VALUES[spec]}],
                    min_price_fen=prices[0],
                    max_price_fen=prices[-1],
                    search_text=search_text_build(
                        title=title,
                        subtitle=subtitle,
                        extra=[*(t.name for t in product_tags), leaf.name, top.name, brand.name],
                    ),
                    detail_html=f"<p>{title}</p><p>{subtitle}</p>",
                )
            )
            extras.append((product_tags, spec, prices))
        with transaction.atomic():
            Product.objects.bulk_create(products, batch_size=CHUNK)
            through.objects.bulk_create(
                [
                    through(product_id=product.pk, tag_id=tag.pk)
                    for product, (product_tags, _, _) in zip(products, extras, strict=True)
                    for tag in product_tags
                ],
                batch_size=CHUNK * 2,
            )
            skus = []
            for index, (product, (_, spec, prices)) in enumerate(
                zip(products, extras, strict=True), start=start
            ):
                for number, value in enumerate(SPEC_VALUES[spec]):
                    specs = {SPEC_NAMES[spec]: value}
                    skus.append(
                        Sku(
                            product=product,
                            code=f"{SKU_PREFIX}{index:07d}-{number}",
                            specs=specs,
                            spec_key=sku_spec_key(specs, [SPEC_NAMES[spec]]),
                            price_fen=prices[number],
                            stock=0 if rng.random() < 0.05 else rng.randint(1, 500),
                            weight_g=rng.randint(100, 3000),
                        )
                    )
            Sku.objects.bulk_create(skus, batch_size=CHUNK * 3)
        done = stop - have
        rate = done / (time.monotonic() - began)
        print(f"  seeded {stop:,} products ({rate:,.0f}/s)", end="\r", flush=True)
    print()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalog_product, catalog_sku, catalog_product_tags")
    cache.clear()
    return target - have


def _paths(rng: random.Random) -> dict[str, list[str]]:
    from catalog.models import Category, Product

    ids = list(Product.objects.filter(is_on_shelf=True).values_list("id", flat=True))
    leaf_ids = list(Category.objects.filter(parent__isnull=False).values_list("id", flat=True))
    from urllib.parse import quote

    return {
        "bare": ["/_bench/bare"],
        "list": ["/api/v1/products?page_size=20"]
        + [f"/api/v1/products?page_size=20&category={c}" for c in leaf_ids[:10]]
        + ["/api/v1/products?page_size=20&ordering=sales", "/api/v1/products?page_size=20&page=2"],
        "detail": [f"/api/v1/products/{pk}" for pk in rng.sample(ids, min(500, len(ids)))],
        "search": [f"/api/v1/products?q={quote(q)}" for q in SEARCH_QUERIES],
    }


def measure(products: int) -> list[list[Any]]:
    """Seed to `products`, count SQL, load each endpoint; returns the table rows."""
    from catalog.models import Product

    with common.timed(f"seeding to {products:,} products"):
        catalogue_seed(products)
    rng = random.Random(products)
    paths = _paths(rng)
    count = Product.objects.count()

    sql = {
        "bare": common.sql_per_request(paths["bare"][0]),
        "list": common.sql_per_request(paths["list"][0]),
        "detail": common.sql_per_request(paths["detail"][0]),
        "search": common.sql_per_request(paths["search"][0]),
    }
    # What a cache miss costs: every search keyword (and 30 details) with an empty cache.
    cold = {
        "list": common.cold_latencies_ms(paths["list"]),
        "detail": common.cold_latencies_ms(paths["detail"][:30]),
        "search": common.cold_latencies_ms(paths["search"]),
    }
    from django.core.cache import cache

    cache.clear()
    # Details are cached per product: fill the cache for the sampled ones, so the load measures
    # the cached detail (plus its per-request stock query); the cache-miss column shows a miss.
    warm_client = common.django_client()
    for path in paths["detail"]:
        warm_client.get(path)
    results = {}
    with common.Server() as server:
        print(f"server: {server.describe()}; client: {common.client_describe()}", flush=True)
        for name in ("bare", "list", "detail", "search"):
            results[name] = common.load(name, server.base_url, paths[name])
        # Bare again at the end: the ratios use the mean, and a big gap says the run was noisy.
        bare_again = common.load("bare", server.base_url, paths["bare"])
    truly_bare = common.bare_app_load()
    bare_rps = (results["bare"].rps + bare_again.rps) / 2
    print(f"bare: {results['bare'].rps:,.0f} req/s first, {bare_again.rps:,.0f} req/s last")
    results["bare"] = common.LoadResult(
        name="bare",
        requests=results["bare"].requests + bare_again.requests,
        seconds=results["bare"].seconds + bare_again.seconds,
        errors=results["bare"].errors + bare_again.errors,
        p50_ms=(results["bare"].p50_ms + bare_again.p50_ms) / 2,
        p95_ms=(results["bare"].p95_ms + bare_again.p95_ms) / 2,
        p99_ms=(results["bare"].p99_ms + bare_again.p99_ms) / 2,
    )
    results["truly bare"] = truly_bare
    rows = []
    for name, result in results.items():
        rows.append(
            [
                f"{count:,}",
                name,
                round(result.rps),
                f"{common.ratio(result.rps, bare_rps):.2f}×",
                f"{common.ratio(result.rps, truly_bare.rps):.2f}×",
                result.p50_ms,
                result.p95_ms,
                result.p99_ms,
                result.errors,
                f"{sql[name].cold}/{sql[name].warm}" if name in sql else "",
                common.p95(cold[name]) if name in cold else "",
            ]
        )
    return rows


HEADERS = [
    "products", "endpoint", "req/s", "× bare", "× truly bare", "p50 ms", "p95 ms", "p99 ms",
    "errors", "SQL cold/warm", "cache-miss p95 ms",
]  # fmt: skip


def verdicts(rows: list[list[Any]]) -> list[str]:
    """The goals, from the table's rows: × the in-stack bare view and × the truly bare app."""
    by_name = {row[1]: dict(zip(HEADERS, row, strict=True)) for row in rows}

    def ratios(name: str) -> tuple[float, float]:
        row = by_name[name]
        return float(row["× bare"].rstrip("×")), float(row["× truly bare"].rstrip("×"))

    def truly(name: str) -> str:
        value, goal = ratios(name)[1], TRULY_BARE_GOALS[name]
        return f"{value:.2f}× truly bare (goal ≥ {goal}×: {common.goal_verdict(value, goal)})"

    list_sql = int(by_name["list"]["SQL cold/warm"].split("/")[0])
    detail_sql = int(by_name["detail"]["SQL cold/warm"].split("/")[0])
    search = by_name["search"]
    return [
        f"  list   {ratios('list')[0]:.2f}× bare (goal ≥ {LIST_GOAL}×), {list_sql} SQL cold "
        f"(goal ≤ 4); {truly('list')}",
        f"  detail {ratios('detail')[0]:.2f}× bare (goal ≥ {DETAIL_GOAL}×), {detail_sql} SQL "
        f"cold (goal ≤ 6); {truly('detail')}",
        f"  search {ratios('search')[0]:.2f}× bare, p95 {search['p95 ms']:.1f} ms under load, "
        f"{search['cache-miss p95 ms']:.1f} ms p95 on a cache miss (goal < "
        f"{SEARCH_P95_GOAL_MS:g} ms); {truly('search')}",
        f"  truly bare app: {by_name['truly bare']['req/s']:,} req/s, in-stack bare "
        f"{ratios('bare')[1]:.2f}× of it (what our stack costs a one-query view)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--products", type=int, default=10_000, help="also measure at this size (after 10,000)"
    )
    args = parser.parse_args()
    common.django_setup()
    sizes = sorted({10_000, args.products})
    base_url = common.bench_env()["DATABASE_URL"]
    all_rows = []
    for size in sizes:
        # One database per size (mall_bench, mall_bench_100k …): each keeps its catalogue, so
        # a later run seeds nothing, and other benchmarks' data in mall_bench is left alone.
        if size != 10_000:
            common.database_use(f"{base_url}_{size // 1000}k")
        rows = measure(size)
        all_rows.extend(rows)
        print()
        print(common.table(HEADERS, rows), flush=True)
        print("\n".join(verdicts(rows)), flush=True)
    if len(sizes) > 1:
        print("\ncatalogue benchmark, all sizes:")
        print(common.table(HEADERS, all_rows))


if __name__ == "__main__":
    main()
