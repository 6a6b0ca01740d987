"""The demo catalogue of `manage.py seed_demo`: categories, brands, tags, 60+ products with
specs, stock, sales and generated images. Safe to run again: a product whose SKU codes exist
is skipped, so nothing is duplicated and a merchant's edits are kept.
"""

import colorsys
import io
import random
import time
from dataclasses import dataclass
from itertools import product as cartesian
from pathlib import Path
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image, ImageDraw, ImageFont

from .images import product_images_uploaded
from .models import Brand, Category, Product, ProductImage, Sku, StockLog, Tag
from .services import product_refresh_derived, sku_spec_key
from .stock import stock_set

IMAGE_SIZE = 750
SKU_PREFIX = "DEMO"
# Fonts with Chinese glyphs, when the machine has one; otherwise the images show shapes only.
CJK_FONT_PATHS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)

CATEGORIES: dict[str, list[str]] = {
    "茶叶": ["绿茶", "红茶", "乌龙茶", "普洱"],
    "零食": ["坚果", "糕点", "肉脯"],
    "美妆": ["护肤", "彩妆"],
    "服饰": ["女装", "男装"],
    "数码配件": ["手机配件", "耳机音箱"],
    "家居": ["收纳", "床品"],
    "母婴": ["奶粉辅食", "婴童用品"],
    "生鲜水果": ["时令水果", "进口水果"],
    "酒水饮料": ["白酒", "咖啡"],
}
# Hue of each top category's generated images.
CATEGORY_HUES = {
    "茶叶": 0.30,
    "零食": 0.08,
    "美妆": 0.92,
    "服饰": 0.60,
    "数码配件": 0.55,
    "家居": 0.12,
    "母婴": 0.97,
    "生鲜水果": 0.18,
    "酒水饮料": 0.02,
}
TAGS = ("新品", "送礼佳品", "热卖", "包邮", "限时特惠")

# Spec kinds: dimension → values, and each value's price factor in percent.
SPEC_KINDS: dict[str, list[tuple[str, list[tuple[str, int]]]]] = {
    "tea": [("规格", [("250g", 100), ("500g", 190)])],
    "snack": [("规格", [("500g", 100), ("1kg", 185)])],
    "fruit": [("规格", [("2.5kg", 100), ("5kg", 180)])],
    "clothes": [
        ("颜色", [("白色", 100), ("黑色", 100), ("雾霾蓝", 100)]),
        ("尺码", [("S", 100), ("M", 100), ("L", 100), ("XL", 105)]),
    ],
    "color": [("颜色", [("曜石黑", 100), ("珍珠白", 100), ("远峰蓝", 108)])],
    "volume": [("规格", [("30ml", 100), ("50ml", 150), ("100ml", 260)])],
    "pack": [("规格", [("单件装", 100), ("两件装", 190)])],
    "single": [],
}


@dataclass(frozen=True)
class DemoProduct:
    category: str  # "茶叶/绿茶"
    title: str
    subtitle: str
    brand: str
    tags: tuple[str, ...]
    spec_kind: str
    price_fen: int
    weight_g: int


def _p(
    category: str,
    title: str,
    subtitle: str,
    brand: str,
    tags: str,
    spec_kind: str,
    price_yuan: float,
    weight_g: int,
) -> DemoProduct:
    return DemoProduct(
        category,
        title,
        subtitle,
        brand,
        tuple(t for t in tags.split(",") if t),
        spec_kind,
        round(price_yuan * 100),
        weight_g,
    )


PRODUCTS: tuple[DemoProduct, ...] = (
    _p("茶叶/绿茶", "西湖龙井绿茶 2026 明前特级", "核心产区狮峰山，豆香浓郁", "西湖印象", "新品,送礼佳品", "tea", 268, 300),
    _p("茶叶/绿茶", "洞庭碧螺春 明前一级", "卷曲如螺，花果香清幽", "吴侬茶舍", "新品", "tea", 158, 300),
    _p("茶叶/绿茶", "黄山毛峰 特级礼盒装", "雾里采摘，兰香鲜爽", "徽韵", "送礼佳品", "tea", 199, 600),
    _p("茶叶/绿茶", "安吉白茶 珍稀白叶一号", "氨基酸含量高，鲜爽回甘", "安吉山舍", "热卖", "tea", 238, 300),
    _p("茶叶/绿茶", "信阳毛尖 雨前嫩芽", "栗香持久，耐冲泡", "豫茗", "", "tea", 118, 300),
    _p("茶叶/红茶", "正山小种红茶 桐木关原产", "松烟香桂圆汤，暖胃好茶", "武夷星", "热卖", "tea", 168, 300),
    _p("茶叶/红茶", "祁门红茶 特级工夫", "世界三大高香红茶之一", "祁红", "送礼佳品", "tea", 188, 300),
    _p("茶叶/红茶", "滇红金芽 蜜香型", "满披金毫，甜润醇厚", "凤庆茶厂", "", "tea", 139, 300),
    _p("茶叶/乌龙茶", "安溪铁观音 清香型 一级", "兰花香，七泡有余香", "八马", "热卖", "tea", 158, 300),
    _p("茶叶/乌龙茶", "武夷大红袍 岩茶 传统炭焙", "岩骨花香，焙火适中", "武夷星", "送礼佳品", "tea", 298, 300),
    _p("茶叶/乌龙茶", "凤凰单丛 鸭屎香", "山韵蜜香，回甘持久", "潮州茗", "新品", "tea", 178, 300),
    _p("茶叶/普洱", "云南普洱熟茶 2018 老班章 357g 饼", "陈香浓郁，越陈越香", "大益", "送礼佳品", "single", 368, 400),
    _p("茶叶/普洱", "普洱生茶 冰岛古树 小沱茶", "冰糖甜，山野气韵", "勐海茶厂", "", "tea", 258, 300),
    _p("零食/坚果", "每日坚果 30 袋混合装", "六种坚果果干，科学配比", "三只松鼠", "热卖,包邮", "pack", 129, 750),
    _p("零食/坚果", "碧根果 奶油味 大颗粒", "薄壳易剥，奶香浓郁", "良品铺子", "热卖", "snack", 49.9, 520),
    _p("零食/坚果", "新疆纸皮核桃 2026 新货", "一捏即开，仁白饱满", "西域果园", "新品,包邮", "snack", 39.9, 520),
    _p("零食/坚果", "夏威夷果 盐焗味", "开口易剥，香脆可口", "百草味", "", "snack", 45.9, 520),
    _p("零食/坚果", "原味腰果 越南进口 W240", "大颗粒，低温烘焙", "沃隆", "限时特惠", "snack", 59.9, 520),
    _p("零食/糕点", "苏式鲜肉月饼 礼盒 8 只装", "现烤酥皮，咸香多汁", "稻香村", "送礼佳品", "single", 88, 700),
    _p("零食/糕点", "凤梨酥 台式经典 12 枚", "金钻凤梨馅，酥松不腻", "微热山丘", "热卖", "pack", 69, 400),
    _p("零食/糕点", "绿豆糕 传统手工 低糖", "入口即化，清甜爽口", "知味观", "", "snack", 29.9, 520),
    _p("零食/肉脯", "靖江猪肉脯 蜜汁味", "精选后腿肉，炭火烘烤", "双鱼", "热卖", "snack", 39.9, 520),
    _p("零食/肉脯", "内蒙古风干牛肉干 手撕", "草原黄牛，越嚼越香", "科尔沁", "包邮", "snack", 79, 520),
    _p("美妆/护肤", "玻尿酸补水保湿面霜", "72 小时长效锁水，敏感肌可用", "珀莱雅", "热卖", "volume", 139, 120),
    _p("美妆/护肤", "烟酰胺美白精华液", "提亮肤色，淡化痘印", "溪木源", "新品", "volume", 189, 120),
    _p("美妆/护肤", "氨基酸洁面乳 温和清洁", "弱酸性配方，洗后不紧绷", "珂润", "", "volume", 79, 150),
    _p("美妆/护肤", "防晒霜 SPF50+ PA++++ 清爽型", "高倍防护，不油不腻", "安热沙", "热卖,限时特惠", "volume", 168, 80),
    _p("美妆/彩妆", "丝绒哑光口红 正红色", "显白不拔干，持久不脱色", "花西子", "送礼佳品", "color", 129, 50),
    _p("美妆/彩妆", "持妆粉底液 控油遮瑕", "12 小时持妆，轻薄服帖", "完美日记", "新品", "color", 149, 80),
    _p("美妆/彩妆", "十二色眼影盘 大地色", "细腻粉质，新手友好", "橘朵", "", "single", 89, 90),
    _p("服饰/女装", "真丝衬衫 女 春夏新款 通勤百搭", "22 姆米桑蚕丝，垂顺透气", "江南布衣", "新品", "clothes", 499, 250),
    _p("服饰/女装", "高腰阔腿牛仔裤 女 显瘦", "弹力面料，垂感直筒", "太平鸟", "热卖", "clothes", 259, 500),
    _p("服饰/女装", "羊毛针织开衫 女 温柔风", "澳洲美丽诺羊毛，亲肤不扎", "ONLY", "", "clothes", 399, 400),
    _p("服饰/女装", "碎花连衣裙 法式复古 收腰", "雪纺面料，飘逸轻盈", "乐町", "限时特惠", "clothes", 229, 300),
    _p("服饰/男装", "纯棉圆领短袖T恤 男 重磅", "260g 精梳棉，不变形不透", "海澜之家", "热卖,包邮", "clothes", 79, 280),
    _p("服饰/男装", "商务休闲西裤 男 免烫", "抗皱垂顺，四季可穿", "利郎", "", "clothes", 299, 450),
    _p("服饰/男装", "轻薄羽绒服 男 立领", "90% 白鸭绒，可收纳", "波司登", "新品", "clothes", 599, 600),
    _p("服饰/男装", "运动速干卫衣 男 连帽", "吸湿排汗，宽松版型", "李宁", "热卖", "clothes", 269, 500),
    _p("数码配件/手机配件", "氮化镓快充充电器 65W 三口", "一充三，兼容笔记本", "安克", "热卖", "color", 159, 120),
    _p("数码配件/手机配件", "磁吸无线充电宝 10000mAh", "磁吸即充，轻薄便携", "倍思", "新品", "color", 199, 230),
    _p("数码配件/手机配件", "编织快充数据线 USB-C 2 米", "耐弯折，100W 快充", "绿联", "包邮", "color", 39.9, 60),
    _p("数码配件/手机配件", "手机支架 桌面可折叠", "铝合金，多角度调节", "品胜", "", "color", 49, 200),
    _p("数码配件/耳机音箱", "真无线降噪蓝牙耳机 Pro", "主动降噪，30 小时续航", "漫步者", "热卖,新品", "color", 399, 60),
    _p("数码配件/耳机音箱", "便携蓝牙音箱 防水户外", "IPX7 防水，重低音", "JBL", "", "color", 599, 540),
    _p("数码配件/耳机音箱", "头戴式游戏耳机 7.1 声道", "虚拟环绕声，降噪麦克风", "雷蛇", "限时特惠", "single", 459, 320),
    _p("家居/收纳", "透明收纳箱 带盖 大号 3 个装", "可叠加，衣物玩具收纳", "爱丽思", "热卖", "pack", 89, 3000),
    _p("家居/收纳", "桌面收纳盒 多格 化妆品整理", "亚克力透明，一目了然", "百露", "", "single", 39, 400),
    _p("家居/收纳", "真空压缩袋 棉被衣物 10 件套", "省空间 80%，防潮防霉", "太力", "包邮", "pack", 59, 800),
    _p("家居/床品", "60 支长绒棉四件套 纯色", "丝滑亲肤，A 类标准", "罗莱家纺", "送礼佳品", "color", 699, 2500),
    _p("家居/床品", "乳胶枕 泰国天然 护颈", "93% 乳胶含量，回弹透气", "紫罗兰", "热卖", "single", 199, 1500),
    _p("家居/床品", "夏凉被 冰丝 可水洗", "冰感面料，空调房必备", "水星家纺", "新品", "color", 259, 1800),
    _p("母婴/奶粉辅食", "婴幼儿配方奶粉 3 段 800g", "乳铁蛋白，助力成长", "飞鹤", "热卖", "single", 298, 1000),
    _p("母婴/奶粉辅食", "有机米粉 高铁 6 月龄+", "有机大米，添加铁锌", "嘉宝", "", "single", 89, 300),
    _p("母婴/奶粉辅食", "宝宝溶豆 酸奶味 6 盒", "入口即溶，无添加蔗糖", "小鹿蓝蓝", "新品", "pack", 59, 200),
    _p("母婴/婴童用品", "纸尿裤 超薄透气 L 码 96 片", "3D 蜂窝透气，整夜干爽", "帮宝适", "热卖,包邮", "pack", 139, 2200),
    _p("母婴/婴童用品", "婴儿湿巾 手口专用 80 抽 10 包", "纯水配方，加厚无刺激", "全棉时代", "", "single", 69, 3000),
    _p("母婴/婴童用品", "儿童保温杯 316 不锈钢 吸管", "一杯三盖，防漏防摔", "膳魔师", "送礼佳品", "color", 169, 350),
    _p("生鲜水果/时令水果", "赣南脐橙 当季现摘", "果园直发，汁多味甜", "赣南果业", "热卖,包邮", "fruit", 49.9, 2700),
    _p("生鲜水果/时令水果", "阳光玫瑰青提 2 串礼盒", "香甜脆爽，无籽", "云南果园", "送礼佳品", "single", 89, 1500),
    _p("生鲜水果/时令水果", "丹东 99 草莓 红颜奶油", "大果鲜甜，顺丰冷链", "丹东果业", "新品", "fruit", 128, 2700),
    _p("生鲜水果/时令水果", "攀枝花凯特芒果 大果", "核小肉厚，香甜软糯", "攀枝花农场", "", "fruit", 59.9, 2700),
    _p("生鲜水果/进口水果", "智利车厘子 JJ 级 2 斤装", "空运直达，颗颗饱满", "佳沛", "热卖,送礼佳品", "single", 199, 1100),
    _p("生鲜水果/进口水果", "新西兰阳光金果 奇异果 12 粒", "维 C 丰富，酸甜可口", "佳沛", "", "single", 99, 1300),
    _p("酒水饮料/白酒", "53 度酱香型白酒 500ml 礼盒", "坤沙工艺，窖藏五年", "习酒", "送礼佳品", "single", 598, 1200),
    _p("酒水饮料/白酒", "浓香型白酒 52 度 双支装", "窖香浓郁，绵甜爽净", "泸州老窖", "限时特惠", "single", 399, 2400),
    _p("酒水饮料/咖啡", "云南小粒咖啡豆 中深烘焙", "坚果焦糖风味，现烘现发", "Manner", "新品", "snack", 79, 520),
    _p("酒水饮料/咖啡", "冻干咖啡粉 速溶 24 颗", "三秒溶解，冷热皆宜", "三顿半", "热卖", "pack", 119, 200),
)  # fmt: skip


def _font(size: int) -> ImageFont.FreeTypeFont | None:
    for path in CJK_FONT_PATHS:
        if Path(path).exists():
            try:
                return ImageFont.truetype(path, size)
            except OSError:
                continue
    return None


def _rgb(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    red, green, blue = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return round(red * 255), round(green * 255), round(blue * 255)


def demo_image(title: str, hue: float, variant: int, font: Any) -> ContentFile:
    """A coloured square with shapes (and the title's first characters when a CJK font exists)."""
    rng = random.Random(f"{title}-{variant}")
    background = _rgb(hue + variant * 0.04, 0.35 + 0.1 * variant, 0.95)
    accent = _rgb(hue + 0.5, 0.55, 0.85)
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), background)
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y = rng.randrange(-100, IMAGE_SIZE), rng.randrange(-100, IMAGE_SIZE)
        radius = rng.randrange(40, 220)
        colour = _rgb(hue + rng.uniform(-0.08, 0.08), rng.uniform(0.3, 0.7), rng.uniform(0.7, 1))
        draw.ellipse((x, y, x + radius, y + radius), fill=colour)
    draw.rounded_rectangle((120, 250, 630, 500), radius=40, fill=(255, 255, 255))
    draw.rounded_rectangle((150, 280, 600, 470), radius=30, outline=accent, width=8)
    if font is not None:
        text = title.replace(" ", "")[:4]
        box = draw.textbbox((0, 0), text, font=font)
        width, height = box[2] - box[0], box[3] - box[1]
        draw.text(
            ((IMAGE_SIZE - width) / 2 - box[0], 375 - height / 2 - box[1]),
            text,
            font=font,
            fill=accent,
        )
    else:
        for i in range(variant + 1):
            draw.ellipse(
                (330 + i * 40 - 40 * variant // 2, 345, 390 + i * 40 - 40 * variant // 2, 405),
                fill=accent,
            )
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return ContentFile(buffer.getvalue())


def _skus_of(item: DemoProduct) -> list[tuple[dict[str, str], int]]:
    """(specs, price_fen) of each SKU: one per combination of the kind's spec values."""
    dimensions = SPEC_KINDS[item.spec_kind]
    if not dimensions:
        return [({}, item.price_fen)]
    skus = []
    for combination in cartesian(*(values for _, values in dimensions)):
        specs = {name: value for (name, _), (value, _) in zip(dimensions, combination, strict=True)}
        factor = 1.0
        for _, percent in combination:
            factor *= percent / 100
        price = round(item.price_fen * factor / 10) * 10  # whole jiao, as shops price
        skus.append((specs, price))
    return skus


class _Lookups:
    def __init__(self) -> None:
        self.categories: dict[str, Category] = {}
        self.brands: dict[str, Brand] = {}
        self.tags: dict[str, Tag] = {}

    def category(self, path: str) -> Category:
        if path not in self.categories:
            parent = None
            for depth, name in enumerate(path.split("/")):
                order = list(CATEGORIES).index(name) if depth == 0 else 0
                parent, _ = Category.objects.get_or_create(
                    parent=parent, name=name, defaults={"sort_order": order}
                )
            assert parent is not None  # noqa: S101  paths are non-empty constants
            self.categories[path] = parent
        return self.categories[path]

    def brand(self, name: str) -> Brand:
        if name not in self.brands:
            self.brands[name] = Brand.objects.get_or_create(name=name)[0]
        return self.brands[name]

    def tag(self, name: str) -> Tag:
        if name not in self.tags:
            self.tags[name] = Tag.objects.get_or_create(name=name)[0]
        return self.tags[name]


def _categories_create(lookups: _Lookups) -> None:
    for top, children in CATEGORIES.items():
        for position, child in enumerate(children):
            category = lookups.category(f"{top}/{child}")
            if category.sort_order != position:
                Category.objects.filter(pk=category.pk).update(sort_order=position)


def _product_create(index: int, item: DemoProduct, lookups: _Lookups, font: Any) -> None:
    rng = random.Random(index)
    sales = rng.choice([0, 3, 18, 56, 120, 380, 960, 2300, 5100])
    with transaction.atomic():
        product = Product.objects.create(
            title=item.title,
            subtitle=item.subtitle,
            category=lookups.category(item.category),
            brand=lookups.brand(item.brand) if item.brand else None,
            is_on_shelf=index % 23 != 22,  # a few off the shelf, as in a real shop
            sort_weight=10 if "热卖" in item.tags else 0,
            sales_count=sales,
            detail_html=(
                f"<h3>{item.title}</h3><p>{item.subtitle}。</p>"
                "<ul><li>正品保障</li><li>48 小时内发货</li><li>7 天无理由退换</li></ul>"
            ),
        )
        product.tags.set([lookups.tag(name) for name in item.tags])
        skus = _skus_of(item)
        for number, (specs, price_fen) in enumerate(skus, start=1):
            sku = Sku.objects.create(
                product=product,
                code=f"{SKU_PREFIX}-{index:03d}-{number:02d}",
                specs=specs,
                spec_key=sku_spec_key(specs, list(specs)),
                price_fen=price_fen,
                original_price_fen=round(price_fen * 1.3 / 100) * 100 if index % 3 == 0 else 0,
                weight_g=item.weight_g,
                sales_count=sales // len(skus),
                low_stock_threshold=5,
            )
            stock = 0 if (index + number) % 17 == 0 else rng.choice([3, 8, 25, 60, 120, 500])
            stock_set(
                sku_id=sku.pk,
                stock=stock,
                reason=StockLog.Reason.ADMIN_ADJUST,
                reference="seed_demo",
                operator="seed_demo",
            )
        hue = CATEGORY_HUES.get(item.category.split("/")[0], 0.5) + rng.uniform(-0.03, 0.03)
        product.main_image.save(
            f"demo-{index:03d}.jpg", demo_image(item.title, hue, 0, font), save=False
        )
        Product.objects.filter(pk=product.pk).update(main_image=product.main_image.name)
        for variant in (1, 2):
            ProductImage.objects.create(
                product=product,
                image=ContentFile(
                    demo_image(item.title, hue, variant, font).read(),
                    name=f"demo-{index:03d}-{variant}.jpg",
                ),
                sort_order=variant,
            )
        product_refresh_derived(product_id=product.pk)
        product_images_uploaded(product_id=product.pk)  # thumbnails after the commit


def seed_demo(stdout: Any) -> None:
    """Create the demo catalogue; products already there (by SKU code) are left alone."""
    started = time.monotonic()
    lookups = _Lookups()
    _categories_create(lookups)
    existing = set(
        Sku.objects.filter(code__startswith=f"{SKU_PREFIX}-").values_list("code", flat=True)
    )
    font = _font(120)
    created = 0
    for index, item in enumerate(PRODUCTS, start=1):
        if f"{SKU_PREFIX}-{index:03d}-01" in existing:
            continue
        _product_create(index, item, lookups, font)
        created += 1
    stdout.write(
        f"演示商品：新建 {created} 个，已存在 {len(PRODUCTS) - created} 个，"
        f"分类 {len(CATEGORIES)} 个一级，用时 {time.monotonic() - started:.1f} 秒"
    )
