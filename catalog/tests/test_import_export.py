import csv
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from openpyxl import Workbook, load_workbook

from catalog.models import Brand, Category, Product, Sku, StockLog, Tag
from catalog.product_import import HEADERS, price_parse, specs_parse

HEADER = list(HEADERS)
GREEN_TEA = [
    [
        "西湖龙井 明前特级",
        "2026 新茶",
        "茶叶/绿茶",
        "西湖牌",
        "新品,送礼佳品",
        "LJ-250",
        "规格:250g",
        "199",
        "259",
        "10",
        "260",
        "是",
        "<p>好茶</p>",
    ],
    [
        "西湖龙井 明前特级",
        "2026 新茶",
        "茶叶/绿茶",
        "西湖牌",
        "新品,送礼佳品",
        "LJ-500",
        "规格:500g",
        "369.5",
        "",
        "5",
        "520",
        "是",
        "<p>好茶</p>",
    ],
    [
        "西湖龙井 明前特级",
        "2026 新茶",
        "茶叶/绿茶",
        "西湖牌",
        "新品,送礼佳品",
        "LJ-1000",
        "规格:1000g",
        "699.90",
        "",
        "0",
        "1040",
        "是",
        "<p>好茶</p>",
    ],
]
SHIRT = [
    [
        "纯棉T恤",
        "",
        "服饰/男装",
        "",
        "热卖",
        "TS-R-M",
        "颜色:红;尺码:M",
        "19.9",
        "",
        "3",
        "200",
        "否",
        "",
    ],
    [
        "纯棉T恤",
        "",
        "服饰/男装",
        "",
        "热卖",
        "TS-B-L",
        "颜色:蓝;尺码:L",
        "19.9",
        "",
        "4",
        "200",
        "否",
        "",
    ],
]


def write_csv(path, rows, header=HEADER):
    with path.open("w", newline="", encoding="utf-8-sig") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_xlsx(path, rows, header=HEADER):
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("商品")
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def run_import(path, *args):
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("import_products", str(path), *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def run_export(path, *args):
    call_command("export_products", "--output", str(path), *args, stdout=io.StringIO())
    return path


def catalogue_state():
    return (
        list(Product.objects.order_by("id").values_list("title", "min_price_fen", "is_on_shelf")),
        list(Sku.objects.order_by("id").values_list("code", "price_fen", "stock")),
        Category.objects.count(),
        StockLog.objects.count(),
    )


@pytest.mark.django_db
def test_three_skus_of_one_product_are_grouped_and_created(tmp_path):
    # given
    path = write_csv(tmp_path / "tea.csv", GREEN_TEA)

    # when
    out, err = run_import(path)

    # then
    product = Product.objects.get()
    assert product.title == "西湖龙井 明前特级"
    assert product.category.name == "绿茶"
    assert product.category.parent.name == "茶叶"
    assert product.brand.name == "西湖牌"
    assert sorted(product.tags.values_list("name", flat=True)) == sorted(["送礼佳品", "新品"])
    assert product.is_on_shelf
    assert list(product.skus.order_by("id").values_list("code", "specs", "price_fen", "stock")) == [
        ("LJ-250", {"规格": "250g"}, 19900, 10),
        ("LJ-500", {"规格": "500g"}, 36950, 5),
        ("LJ-1000", {"规格": "1000g"}, 69990, 0),
    ]
    assert product.skus.get(code="LJ-250").original_price_fen == 25900
    assert (product.min_price_fen, product.max_price_fen) == (19900, 69990)  # derived refreshed
    assert product.search_text  # derived refreshed
    assert list(StockLog.objects.order_by("id").values_list("reason", "stock_after")) == [
        (StockLog.Reason.IMPORT, 10),
        (StockLog.Reason.IMPORT, 5),
    ]
    assert "商品 新建 1" in out
    assert "SKU 新建 3" in out
    assert "已处理 3 行" in err


@pytest.mark.django_db
def test_a_second_import_updates_by_sku_code(tmp_path):
    # given
    run_import(write_csv(tmp_path / "first.csv", GREEN_TEA + SHIRT))
    product_id = Sku.objects.get(code="LJ-250").product_id
    renamed = [row.copy() for row in GREEN_TEA[:2]]
    renamed[0][0] = renamed[1][0] = "西湖龙井 明前特级 2026"  # a new title: found by SKU code
    renamed[0][7], renamed[0][9] = "188.8", "7"
    renamed.append(
        [
            "纯棉T恤",
            "",
            "服饰/男装",
            "",
            "热卖",
            "TS-R-L",
            "颜色:红;尺码:L",
            "21",
            "",
            "2",
            "200",
            "是",
            "",
        ]
    )

    # when
    out, _ = run_import(write_csv(tmp_path / "second.csv", renamed))

    # then
    assert Product.objects.count() == 2
    tea = Product.objects.get(pk=product_id)
    assert tea.title == "西湖龙井 明前特级 2026"
    sku = Sku.objects.get(code="LJ-250")
    assert (sku.product_id, sku.price_fen, sku.stock) == (product_id, 18880, 7)
    assert Sku.objects.get(code="LJ-1000").product_id == product_id  # not in the file: kept
    assert Sku.objects.filter(product__title="纯棉T恤").count() == 3  # found by title + category
    assert Product.objects.get(title="纯棉T恤").is_on_shelf
    assert StockLog.objects.filter(sku=sku).count() == 2
    assert "商品 新建 0、更新 2" in out
    assert "SKU 新建 1、更新 1、无变化 1" in out


@pytest.mark.django_db
def test_dry_run_changes_nothing(tmp_path):
    # given
    run_import(write_csv(tmp_path / "first.csv", GREEN_TEA))
    before = catalogue_state()
    changed = [row.copy() for row in GREEN_TEA + SHIRT]
    changed[0][9] = "99"
    changed[1][7] = "1.5"

    # when
    out, _ = run_import(write_csv(tmp_path / "changes.csv", changed), "--dry-run")

    # then
    assert catalogue_state() == before
    assert "演练" in out
    assert "商品 新建 1、更新 1" in out
    assert "SKU 新建 2、更新 2、无变化 1" in out


@pytest.mark.django_db
def test_a_bad_row_rejects_only_that_row_and_is_reported(tmp_path):
    # given
    bad_price = [*SHIRT[0][:7], "19.999", *SHIRT[0][8:]]
    no_title = ["", *SHIRT[1][1:]]
    bad_shelf = [*GREEN_TEA[2][:11], "也许", GREEN_TEA[2][12]]
    negative = [*GREEN_TEA[1][:5], "LJ-NEG", "规格:2kg", "-5", *GREEN_TEA[1][8:]]
    rows = [GREEN_TEA[0], bad_price, no_title, GREEN_TEA[1], bad_shelf, negative]
    report = tmp_path / "rejected.csv"

    # when
    out, _ = run_import(write_csv(tmp_path / "mixed.csv", rows), "--report", str(report))

    # then
    assert sorted(Sku.objects.values_list("code", flat=True)) == ["LJ-250", "LJ-500"]
    with report.open(encoding="utf-8-sig") as file:
        reported = list(csv.reader(file))
    assert reported[0] == ["行号", "原因", *HEADER]
    reasons = {int(line[0]): line[1] for line in reported[1:]}
    assert set(reasons) == {3, 4, 6, 7}
    assert "最多两位小数" in reasons[3]
    assert "缺少商品标题" in reasons[4]
    assert "上架" in reasons[6]
    assert "不能为负数" in reasons[7]
    assert reported[1][2:] == bad_price
    assert "拒绝 4 行" in out


@pytest.mark.django_db
def test_a_row_clashing_in_the_database_is_rejected_alone(tmp_path):
    # given: two rows of one product with the same spec combination
    clash = [*GREEN_TEA[1][:5], "LJ-OTHER", "规格:250g", *GREEN_TEA[1][7:]]
    report = tmp_path / "rejected.csv"

    # when
    run_import(write_csv(tmp_path / "clash.csv", [*GREEN_TEA, clash]), "--report", str(report))

    # then
    assert Sku.objects.count() == 3
    assert "规格组合" in report.read_text(encoding="utf-8-sig")


@pytest.mark.django_db
def test_xlsx_import_and_english_headers(tmp_path):
    # given
    english = ["title", "subtitle", "category", "brand", "tags", "sku_code", "specs", "price",
               "original_price", "stock", "weight_g", "on_shelf", "detail"]  # fmt: skip
    xlsx_rows = [
        [*row[:7], float(row[7]), row[8], int(row[9]), int(row[10]), row[11], row[12]]
        for row in GREEN_TEA
    ]

    # when
    run_import(write_xlsx(tmp_path / "tea.xlsx", xlsx_rows, header=english))

    # then
    assert list(
        Sku.objects.order_by("id").values_list("code", "price_fen", "stock", "weight_g")
    ) == [
        ("LJ-250", 19900, 10, 260),
        ("LJ-500", 36950, 5, 520),
        ("LJ-1000", 69990, 0, 1040),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_export_then_import_round_trips(tmp_path, file_format):
    # given
    run_import(write_csv(tmp_path / "all.csv", GREEN_TEA + SHIRT))
    first = run_export(tmp_path / f"first.{file_format}")
    StockLog.objects.all().delete()
    Product.objects.all().delete()
    Category.objects.filter(parent__isnull=False).delete()
    Category.objects.all().delete()
    Brand.objects.all().delete()
    Tag.objects.all().delete()

    # when
    run_import(first)
    second = run_export(tmp_path / f"second.{file_format}")

    # then
    assert read_table(second) == read_table(first)
    assert len(read_table(first)) == 1 + len(GREEN_TEA) + len(SHIRT)
    assert read_table(first)[0] == HEADER


def read_table(path):
    if path.suffix == ".csv":
        with path.open(encoding="utf-8-sig") as file:
            return list(csv.reader(file))
    workbook = load_workbook(path, read_only=True)
    rows = [list(row) for row in workbook.active.iter_rows(values_only=True)]
    workbook.close()
    return rows


@pytest.mark.django_db
def test_a_product_spanning_two_batches_is_counted_once(tmp_path):
    # when
    out, err = run_import(write_csv(tmp_path / "tea.csv", GREEN_TEA), "--batch-size", "2")

    # then
    assert Product.objects.count() == 1
    assert Sku.objects.count() == 3
    assert "商品 新建 1、更新 0" in out
    assert err.count("已处理") == 2  # one line per batch


def test_price_parse_uses_integer_fen():
    assert price_parse("19.9", "售价") == 1990
    assert price_parse("19", "售价") == 1900
    assert price_parse("0.07", "售价") == 7
    assert price_parse("¥1,299.00", "售价") == 129900
    assert price_parse(19.99, "售价") == 1999
    for bad in ("19.999", "-1", "abc", "1e3", ""):
        with pytest.raises(ValueError, match="售价"):
            price_parse(bad, "售价")


def test_specs_parse_accepts_full_width_separators():
    assert specs_parse("颜色：红；尺码:M") == {"颜色": "红", "尺码": "M"}
    assert specs_parse("") == {}
    with pytest.raises(ValueError, match="规格"):
        specs_parse("颜色红")


@pytest.mark.django_db
def test_a_row_disagreeing_with_the_products_other_skus_is_rejected_alone(tmp_path):
    # given: the product exists with SKUs specified by 规格
    run_import(write_csv(tmp_path / "tea.csv", GREEN_TEA))
    other_dimension = [*GREEN_TEA[0][:5], "LJ-RED", "颜色:红", *GREEN_TEA[0][7:]]
    new_size = [*GREEN_TEA[0][:5], "LJ-2000", "规格:2000g", "1299", "", "1", "2080", "是", ""]
    report = tmp_path / "rejected.csv"

    # when
    out, _ = run_import(
        write_csv(tmp_path / "more.csv", [other_dimension, new_size]), "--report", str(report)
    )

    # then
    assert set(Sku.objects.values_list("code", flat=True)) == {
        "LJ-250",
        "LJ-500",
        "LJ-1000",
        "LJ-2000",
    }
    assert "规格项与该商品其他 SKU 不一致" in report.read_text(encoding="utf-8-sig")
    assert Product.objects.get().max_price_fen == 129900
    assert "拒绝 1 行" in out


@pytest.mark.django_db
def test_missing_required_column_fails_the_whole_file(tmp_path):
    path = write_csv(tmp_path / "bad.csv", [["x"]], header=["商品标题", "分类"])
    with pytest.raises(CommandError, match="SKU编码"):
        run_import(path)
    assert Product.objects.count() == 0
