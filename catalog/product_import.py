"""Import of products from a CSV or XLSX file: create or update, keyed by SKU code.

One row is one SKU. Rows of one product share 商品标题 + 分类; the product-level cells (副标题,
品牌, 标签, 上架, 详情) are taken from the product's first row in each batch. An existing product
is found through an existing SKU code first, else by title + category.

The file is streamed: at most one batch of rows is held at a time, so memory stays flat on
100,000 rows. Each batch is its own transaction; each row is validated first, then written in
its own savepoint, so a bad row is rejected alone (with a Chinese reason) and the rest land.
A dry run writes every batch and rolls it back (one transaction per batch, so a long dry run
never holds row locks for more than one batch).
"""

import codecs
import csv
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from pathlib import Path
from typing import Any

from django.db import DatabaseError, IntegrityError, transaction
from openpyxl import load_workbook

from mall.errors import DomainError

from .models import Brand, Category, Product, Sku, StockLog, Tag
from .services import (
    product_detail_sanitize,
    product_refresh_derived,
    sku_spec_key,
    spec_dimension_order,
)
from .stock import stock_set


@dataclass(frozen=True)
class Column:
    key: str
    header: str  # the Chinese header written by export_products
    aliases: tuple[str, ...] = ()
    required: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("title", "商品标题", ("标题", "商品名称", "title"), required=True),
    Column("subtitle", "副标题", ("subtitle",)),
    Column("category", "分类", ("类目", "category"), required=True),
    Column("brand", "品牌", ("brand",)),
    Column("tags", "标签", ("tags",)),
    Column("sku_code", "SKU编码", ("sku", "编码", "sku_code", "code"), required=True),
    Column("specs", "规格", ("specs",)),
    Column("price", "售价", ("价格", "price"), required=True),
    Column("original_price", "划线价", ("原价", "original_price")),
    Column("stock", "库存", ("stock",)),
    Column("weight_g", "重量", ("重量(克)", "重量g", "weight_g", "weight")),
    Column("on_shelf", "上架", ("是否上架", "on_shelf")),
    Column("detail", "详情", ("detail", "detail_html")),
)
HEADERS: tuple[str, ...] = tuple(column.header for column in COLUMNS)

TRUE_WORDS = frozenset({"是", "1", "y", "yes", "true", "上架"})
FALSE_WORDS = frozenset({"否", "0", "n", "no", "false", "下架"})
LIST_SEPARATORS = re.compile(r"[,，、]")
SPEC_SEPARATORS = re.compile(r"[;；]")
PRICE_PATTERN = re.compile(r"(\d+)(?:\.(\d*))?")
MAX_PRICE_FEN = 100_000_000_00  # 1 亿元: anything above is a typo
MAX_STOCK = 2_000_000_000


class ImportFileInvalid(Exception):
    """The file cannot be imported at all (unknown type, missing required columns)."""


class RowRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class ImportRow:
    """One validated row. None = the column is absent from the file: leave the field as it is."""

    number: int
    raw: Sequence[Any]
    title: str
    category_path: tuple[str, ...]
    sku_code: str
    price_fen: int
    subtitle: str | None = None
    brand: str | None = None
    tags: tuple[str, ...] | None = None
    specs: dict[str, str] | None = None
    original_price_fen: int | None = None
    stock: int | None = None
    weight_g: int | None = None
    is_on_shelf: bool | None = None
    detail_html: str | None = None

    @property
    def product_key(self) -> tuple[str, tuple[str, ...]]:
        return (self.title, self.category_path)


@dataclass
class ImportSummary:
    rows: int = 0
    products_created: int = 0
    products_updated: int = 0
    products_unchanged: int = 0
    skus_created: int = 0
    skus_updated: int = 0
    skus_unchanged: int = 0
    rejected: int = 0
    categories_created: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    ignored_headers: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# --- reading files -------------------------------------------------------------------------


def _csv_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) unless the start of the file is not UTF-8: then GB18030,
    which is what Excel on a Chinese Windows saves as "CSV"."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as file:
        sample = file.read(256 * 1024)
    try:
        decoder.decode(sample, final=False)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8-sig"


def _csv_rows(path: Path) -> Iterator[Sequence[Any]]:
    with path.open(newline="", encoding=_csv_encoding(path)) as file:
        yield from csv.reader(file)


def _xlsx_rows(path: Path) -> Iterator[Sequence[Any]]:
    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        yield from workbook.active.iter_rows(values_only=True)
    finally:
        workbook.close()


def table_rows_read(path: Path) -> Iterator[Sequence[Any]]:
    """The rows of a .csv or .xlsx file, header first, one at a time."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_rows(path)
    if suffix in (".xlsx", ".xlsm"):
        return _xlsx_rows(path)
    raise ImportFileInvalid(f"不支持的文件类型 {suffix or '(无扩展名)'}：请使用 .csv 或 .xlsx")


def table_row_count_estimate(path: Path) -> int | None:
    """Data rows in the file, for the progress display (CSV: newlines, XLSX: its dimension)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        count = 0
        with path.open("rb") as file:
            while chunk := file.read(1 << 20):
                count += chunk.count(b"\n")
        return max(count - 1, 0)
    if suffix in (".xlsx", ".xlsm"):
        workbook = load_workbook(path, read_only=True)
        try:
            max_row = workbook.active.max_row
        finally:
            workbook.close()
        return None if max_row is None else max(max_row - 1, 0)
    return None


# --- parsing cells -------------------------------------------------------------------------


def _normalise_header(text: str) -> str:
    return re.sub(r"[\s_*]", "", str(text)).lower().replace("（", "(").replace("）", ")")


_HEADER_LOOKUP: dict[str, str] = {
    _normalise_header(name): column.key
    for column in COLUMNS
    for name in (column.header, column.key, *column.aliases)
}


def header_map(header: Sequence[Any]) -> tuple[dict[str, int], list[str]]:
    """Column key → index in the row, and the headers that were ignored.

    Raises: ImportFileInvalid when a required column is missing or a column appears twice.
    """
    positions: dict[str, int] = {}
    ignored: list[str] = []
    for index, cell in enumerate(header):
        text = _cell_text(cell)
        if not text:
            continue
        key = _HEADER_LOOKUP.get(_normalise_header(text))
        if key is None:
            ignored.append(text)
            continue
        if key in positions:
            raise ImportFileInvalid(f"表头“{text}”重复")
        positions[key] = index
    missing = [c.header for c in COLUMNS if c.required and c.key not in positions]
    if missing:
        raise ImportFileInvalid(f"缺少必填列：{'、'.join(missing)}")
    return positions, ignored


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


def price_parse(value: Any, label: str) -> int:
    """ "19.9" → 1990 fen, in integers only (a yuan amount with at most two decimals).

    Raises: ValueError with a Chinese message.
    """
    if isinstance(value, bool):
        raise ValueError(f"{label}格式错误")
    text = _cell_text(value).lstrip("¥￥").replace(",", "")
    if text.startswith("-"):
        raise ValueError(f"{label}不能为负数")
    match = PRICE_PATTERN.fullmatch(text)
    if match is None:
        raise ValueError(f"{label}格式错误：“{_cell_text(value)}”不是金额")
    whole, decimals = match.group(1), match.group(2) or ""
    if len(decimals) > 2:
        raise ValueError(f"{label}最多两位小数：“{text}”")
    fen = int(whole) * 100 + int(decimals.ljust(2, "0"))
    if fen > MAX_PRICE_FEN:
        raise ValueError(f"{label}过大：“{text}”")
    return fen


def _count_parse(value: Any, label: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{label}格式错误")
    text = _cell_text(value).replace(",", "")
    if text.startswith("-"):
        raise ValueError(f"{label}不能为负数")
    if not text.isdigit() or not text.isascii():
        raise ValueError(f"{label}应为整数：“{text}”")
    number = int(text)
    if number > MAX_STOCK:
        raise ValueError(f"{label}过大：“{text}”")
    return number


def _bool_parse(value: Any, label: str) -> bool:
    if isinstance(value, bool):
        return value
    text = _cell_text(value).lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError(f"{label}应为“是”或“否”：“{text}”")


def specs_parse(text: str) -> dict[str, str]:
    """ "颜色:红;尺码:M" → {"颜色": "红", "尺码": "M"} (full-width ： and ； accepted)."""
    specs: dict[str, str] = {}
    for part in SPEC_SEPARATORS.split(text):
        if not part.strip():
            continue
        name, colon, spec_value = part.replace("：", ":").partition(":")
        name, spec_value = name.strip(), spec_value.strip()
        if not colon or not name or not spec_value:
            raise ValueError(f"规格格式错误：“{part.strip()}”，应为“颜色:红;尺码:M”")
        if name in specs:
            raise ValueError(f"规格“{name}”重复")
        if "|" in name + spec_value or ":" in spec_value:
            raise ValueError(f"规格名和规格值不能含 : 或 |：“{part.strip()}”")
        if len(name) > 20 or len(spec_value) > 40:
            raise ValueError(f"规格名或规格值过长：“{part.strip()}”")
        specs[name] = spec_value
    return specs


def specs_format(specs: dict[str, str]) -> str:
    return ";".join(f"{name}:{value}" for name, value in specs.items())


def row_parse(number: int, raw: Sequence[Any], positions: dict[str, int]) -> ImportRow:
    """Validate one row. Raises: RowRejected with every problem of the row, in Chinese."""
    problems: list[str] = []

    def cell(key: str) -> Any:
        index = positions.get(key)
        return None if index is None or index >= len(raw) else raw[index]

    def present(key: str) -> bool:
        return key in positions

    def parsed(key: str, parse: Callable[[Any], Any], default: Any = None) -> Any:
        """None when the column is absent; `default` when the cell is blank."""
        if not present(key):
            return None
        value = cell(key)
        if _cell_text(value) == "":
            return default
        try:
            return parse(value)
        except ValueError as exc:
            problems.append(str(exc))
            return None

    title = _cell_text(cell("title"))
    if not title:
        problems.append("缺少商品标题")
    elif len(title) > 120:
        problems.append("商品标题超过 120 字")
    category_text = _cell_text(cell("category"))
    category_path = tuple(part.strip() for part in category_text.split("/") if part.strip())
    if not category_path:
        problems.append("缺少分类")
    elif len(category_path) > Category.MAX_DEPTH:
        problems.append(f"分类最多 {Category.MAX_DEPTH} 级：“{category_text}”")
    elif any(len(part) > 40 for part in category_path):
        problems.append("分类名称超过 40 字")
    sku_code = _cell_text(cell("sku_code"))
    if not sku_code:
        problems.append("缺少SKU编码")
    elif len(sku_code) > 64:
        problems.append("SKU编码超过 64 个字符")
    price_fen = parsed("price", lambda v: price_parse(v, "售价"))
    if price_fen is None and not _cell_text(cell("price")):
        problems.append("缺少售价")
    subtitle = parsed("subtitle", _cell_text, "")
    if subtitle and len(subtitle) > 200:
        problems.append("副标题超过 200 字")
    brand = parsed("brand", _cell_text, "")
    if brand and len(brand) > 60:
        problems.append("品牌名称超过 60 字")
    tags = parsed(
        "tags",
        lambda v: tuple(
            dict.fromkeys(t.strip() for t in LIST_SEPARATORS.split(_cell_text(v)) if t.strip())
        ),
        (),
    )
    if tags and any(len(tag) > 20 for tag in tags):
        problems.append("标签超过 20 字")
    row = ImportRow(
        number=number,
        raw=raw,
        title=title,
        category_path=category_path,
        sku_code=sku_code,
        price_fen=price_fen or 0,
        subtitle=subtitle,
        brand=brand,
        tags=tags,
        specs=parsed("specs", lambda v: specs_parse(_cell_text(v)), {}),
        original_price_fen=parsed("original_price", lambda v: price_parse(v, "划线价"), 0),
        stock=parsed("stock", lambda v: _count_parse(v, "库存")),
        weight_g=parsed("weight_g", lambda v: _count_parse(v, "重量"), 0),
        is_on_shelf=parsed("on_shelf", lambda v: _bool_parse(v, "上架")),
        detail_html=parsed("detail", _cell_text, ""),
    )
    if problems:
        raise RowRejected("；".join(dict.fromkeys(problems)))
    return row


# --- writing -------------------------------------------------------------------------------


def _product_refresh(product_id: int) -> None:
    product_refresh_derived(product_id=product_id)


def _detail_text(detail: dict[str, Any]) -> str:
    return "；".join(f"{key}={value}" for key, value in detail.items())


Reject = tuple[int, str, Sequence[Any]]


class ProductImporter:
    """Runs one import; keeps only per-batch state plus small lookup caches (categories,
    brands, tags: a few thousand names at most)."""

    def __init__(
        self,
        *,
        dry_run: bool = False,
        batch_size: int = 500,
        reference: str = "",
        on_reject: Callable[[int, str, Sequence[Any]], None] | None = None,
        on_progress: Callable[[ImportSummary], None] | None = None,
        on_header: Callable[[Sequence[Any]], None] | None = None,
    ) -> None:
        self.dry_run = dry_run
        self.on_header = on_header
        self.batch_size = max(1, batch_size)
        self.reference = reference[:64]
        self.on_reject = on_reject
        self.on_progress = on_progress
        self.summary = ImportSummary(dry_run=dry_run)
        self._category_ids: dict[tuple[str, ...], int] = {}
        self._brand_ids: dict[str, int] = {}
        self._tag_ids: dict[str, int] = {}
        self._categories_made: set[tuple[str, ...]] = set()
        # Products created by the previous batch: a product whose rows span two batches is
        # counted once (bounded by the batch size).
        self._created_before: set[tuple[str, tuple[str, ...]]] = set()
        self._created_now: set[tuple[str, tuple[str, ...]]] = set()
        self._progress_shown: tuple[int, int] = (-1, -1)

    # -- the run --

    def run(self, rows: Iterable[Sequence[Any]]) -> ImportSummary:
        """Import the rows of a table, header first. Raises: ImportFileInvalid."""
        started = time.monotonic()
        iterator = iter(rows)
        header = next(iterator, None)
        if header is None:
            raise ImportFileInvalid("文件是空的")
        positions, self.summary.ignored_headers = header_map(header)
        if self.on_header is not None:
            self.on_header(header)
        batch: list[ImportRow] = []
        codes_in_batch: dict[str, int] = {}
        for number, raw in enumerate(iterator, start=2):
            if not any(_cell_text(value) for value in raw):
                continue  # blank line (Excel keeps formatted empty rows)
            self.summary.rows += 1
            try:
                row = row_parse(number, raw, positions)
                if row.sku_code in codes_in_batch:
                    raise RowRejected(f"SKU编码与第 {codes_in_batch[row.sku_code]} 行重复")
            except RowRejected as exc:
                self._reject(number, exc.reason, raw)
                continue
            codes_in_batch[row.sku_code] = number
            batch.append(row)
            if len(batch) >= self.batch_size:
                self._batch_run(batch)
                batch, codes_in_batch = [], {}
                self._progress(started)
        if batch:
            self._batch_run(batch)
        if (self.summary.rows, self.summary.rejected) != self._progress_shown:
            self._progress(started)  # the last line shows the whole file
        self.summary.seconds = time.monotonic() - started
        return self.summary

    def _progress(self, started: float) -> None:
        self._progress_shown = (self.summary.rows, self.summary.rejected)
        self.summary.seconds = time.monotonic() - started
        if self.on_progress is not None:
            self.on_progress(self.summary)

    def _reject(self, number: int, reason: str, raw: Sequence[Any]) -> None:
        self.summary.rejected += 1
        if self.on_reject is not None:
            self.on_reject(number, reason, raw)

    def _caches_clear(self) -> None:
        """After a rollback the cached ids may name rows that no longer exist."""
        self._category_ids.clear()
        self._brand_ids.clear()
        self._tag_ids.clear()

    def _batch_run(self, batch: list[ImportRow]) -> None:
        self._created_now = set()
        counts_before = self.summary.as_dict()
        rejects: list[Reject] = []
        try:
            with transaction.atomic():
                rejects = self._batch_write(batch)
                if self.dry_run:
                    transaction.set_rollback(True)
        except Exception:
            for key, value in counts_before.items():
                setattr(self.summary, key, value)
            self._caches_clear()
            raise
        if self.dry_run:
            self._caches_clear()
        for number, reason, raw in rejects:
            self._reject(number, reason, raw)
        self._created_before = self._created_now

    def _batch_write(self, batch: list[ImportRow]) -> list[Reject]:
        rejects: list[Reject] = []
        existing = {
            sku.code: sku for sku in Sku.objects.filter(code__in=[row.sku_code for row in batch])
        }
        groups: dict[tuple[str, tuple[str, ...]], list[ImportRow]] = {}
        for row in batch:
            groups.setdefault(row.product_key, []).append(row)
        category_ids: dict[tuple[str, ...], int] = {}
        for _title, path in list(groups):
            if path in category_ids:
                continue
            try:
                category_ids[path] = self._category_id(path)
            except RowRejected as exc:
                for key in [key for key in groups if key[1] == path]:
                    rejects.extend((row.number, exc.reason, row.raw) for row in groups.pop(key))
        by_title = self._products_by_title(groups, category_ids)
        for (title, path), rows in groups.items():
            category_id = category_ids[path]
            group_rejects: list[Reject] = []
            outcomes: list[str] = []
            try:
                with transaction.atomic():
                    self._group_write(
                        rows,
                        category_id,
                        by_title.get((title, category_id)),
                        existing,
                        group_rejects,
                        outcomes,
                    )
            except RowRejected as exc:
                self._caches_clear()
                already = {number for number, _, _ in group_rejects}
                rejects.extend(group_rejects)
                rejects.extend(
                    (row.number, exc.reason, row.raw) for row in rows if row.number not in already
                )
                continue
            rejects.extend(group_rejects)
            for outcome in outcomes:
                setattr(self.summary, outcome, getattr(self.summary, outcome) + 1)
        return rejects

    def _products_by_title(
        self,
        groups: dict[tuple[str, tuple[str, ...]], list[ImportRow]],
        category_ids: dict[tuple[str, ...], int],
    ) -> dict[tuple[str, int], int]:
        """(title, category id) → the oldest such product, for the whole batch in one query."""
        titles = {title for title, _ in groups}
        found: dict[tuple[str, int], int] = {}
        rows = (
            Product.objects.filter(title__in=titles, category_id__in=set(category_ids.values()))
            .order_by("-id")
            .values_list("title", "category_id", "id")
        )
        for title, category_id, product_id in rows:
            found[(title, category_id)] = product_id  # descending ids: the oldest wins
        return found

    # -- one product and its rows --

    def _group_write(
        self,
        rows: list[ImportRow],
        category_id: int,
        product_id_by_title: int | None,
        existing: dict[str, Sku],
        rejects: list[Reject],
        outcomes: list[str],
    ) -> None:
        """Write one product and its rows, then refresh its derived fields, in the caller's
        savepoint. Rows refused alone go to `rejects`; RowRejected refuses the whole group."""
        first = rows[0]
        product_id = next(
            (existing[row.sku_code].product_id for row in rows if row.sku_code in existing),
            product_id_by_title,
        )
        accepted, dimension_order = self._rows_check(rows, product_id, existing, rejects)
        if not accepted:
            return
        is_new = product_id is None
        try:  # no savepoint of its own: a failure rejects the group, whose savepoint rolls back
            product_id, product_changed = self._product_save(product_id, category_id, first)
        except DatabaseError as exc:
            raise RowRejected(f"商品保存失败：{exc.__class__.__name__}") from exc
        written = 0
        for row in accepted:
            try:
                with transaction.atomic():
                    outcome = self._sku_save(
                        row, product_id, existing.get(row.sku_code), dimension_order
                    )
            except IntegrityError as exc:
                self._caches_clear()
                rejects.append((row.number, _integrity_reason(exc), row.raw))
            except DatabaseError as exc:
                self._caches_clear()
                rejects.append((row.number, f"保存失败：{exc.__class__.__name__}", row.raw))
            else:
                outcomes.append(outcome)
                written += 1
        if not written and is_new:
            raise RowRejected("该商品没有可导入的 SKU")
        if not product_changed and all(outcome == "skus_unchanged" for outcome in outcomes):
            outcomes.append("products_unchanged")  # a re-import of the same data: no refresh
            return
        try:
            _product_refresh(product_id)  # atomic itself: a failure rolls back only its writes
        except DomainError as exc:  # the product's other SKUs disagree with the file
            raise RowRejected(f"{exc.message}（{_detail_text(exc.detail)}）") from exc
        # A product whose rows span two batches is counted once, by the batch that made it.
        if first.product_key in self._created_before:
            self._created_now.add(first.product_key)
        elif is_new:
            self._created_now.add(first.product_key)
            outcomes.append("products_created")
        else:
            outcomes.append("products_updated")

    def _rows_check(
        self,
        rows: list[ImportRow],
        product_id: int | None,
        existing: dict[str, Sku],
        rejects: list[Reject],
    ) -> tuple[list[ImportRow], list[str]]:
        """The rows that can be written, and the product's spec dimension order.

        Checked against the product's other active SKUs too: the same spec names everywhere,
        one SKU per combination, no SKU taken from another product.
        Raises: RowRejected (the whole group) when SKUs not in the file disagree with it.
        """
        others: list[tuple[str, dict[str, str]]] = []
        if product_id is not None:
            codes = {row.sku_code for row in rows}
            others = [
                (code, specs or {})
                for code, specs in Sku.objects.filter(product_id=product_id, is_active=True)
                .order_by("id")
                .values_list("code", "specs")
                if code not in codes
            ]
        order = spec_dimension_order(specs for _, specs in others)
        expected = set(others[0][1]) if others else None
        combinations: dict[frozenset[tuple[str, str]], str] = {
            frozenset(specs.items()): f"已有 SKU {code}" for code, specs in others
        }
        accepted: list[ImportRow] = []
        for row in rows:
            sku = existing.get(row.sku_code)
            if sku is not None and product_id is not None and sku.product_id != product_id:
                rejects.append(
                    (row.number, f"SKU编码已属于另一个商品（ID {sku.product_id}）", row.raw)
                )
                continue
            specs = row.specs if row.specs is not None else (sku.specs if sku else {}) or {}
            if expected is None:
                expected = set(specs)
            elif set(specs) != expected:
                names = "、".join(sorted(expected)) or "无规格"
                rejects.append(
                    (row.number, f"规格项与该商品其他 SKU 不一致（应为：{names}）", row.raw)
                )
                continue
            combination = frozenset(specs.items())
            if combination in combinations:
                rejects.append((row.number, f"规格组合与{combinations[combination]}重复", row.raw))
                continue
            combinations[combination] = f"第 {row.number} 行"
            order.extend(name for name in specs if name not in order)
            accepted.append(row)
        return accepted, order

    def _product_save(
        self, product_id: int | None, category_id: int, row: ImportRow
    ) -> tuple[int, bool]:
        """Create or update the product from its first row; returns (id, whether it changed)."""
        brand_id = self._brand_id(row.brand) if row.brand else None
        values: dict[str, Any] = {"title": row.title, "category_id": category_id}
        if row.subtitle is not None:
            values["subtitle"] = row.subtitle
        if row.brand is not None:
            values["brand_id"] = brand_id
        if row.is_on_shelf is not None:
            values["is_on_shelf"] = row.is_on_shelf
        if row.detail_html is not None:
            values["detail_html"] = (
                product_detail_sanitize(row.detail_html) if row.detail_html else ""
            )
        changed: list[str] = []
        if product_id is None:
            product = Product.objects.create(**values)
        else:
            product = Product.objects.select_for_update().get(pk=product_id)
            changed = [name for name, value in values.items() if getattr(product, name) != value]
            if changed:
                for name in changed:
                    setattr(product, name, values[name])
                product.save(update_fields=[*changed, "updated_at"])
        if row.tags is not None:
            tag_ids = {self._tag_id(name) for name in row.tags}
            if product_id is None:
                through = Product.tags.through
                through.objects.bulk_create(
                    [through(product_id=product.pk, tag_id=tag_id) for tag_id in tag_ids]
                )
            elif tag_ids != set(product.tags.values_list("id", flat=True)):
                product.tags.set(tag_ids)
                changed.append("tags")
        return product.pk, bool(changed) or product_id is None

    def _sku_save(
        self, row: ImportRow, product_id: int, sku: Sku | None, dimension_order: list[str]
    ) -> str:
        """Create or update one SKU; returns created, updated or unchanged."""
        if sku is None:
            specs = row.specs or {}
            sku = Sku.objects.create(
                product_id=product_id,
                code=row.sku_code,
                specs=specs,
                spec_key=sku_spec_key(specs, dimension_order),
                price_fen=row.price_fen,
                original_price_fen=row.original_price_fen or 0,
                weight_g=row.weight_g or 0,
                stock=0,
            )
            outcome = "skus_created"
            changed_stock = bool(row.stock)
        else:
            values: dict[str, Any] = {"price_fen": row.price_fen}
            if row.specs is not None:
                values["specs"] = row.specs
                values["spec_key"] = sku_spec_key(row.specs, dimension_order)
            if row.original_price_fen is not None:
                values["original_price_fen"] = row.original_price_fen
            if row.weight_g is not None:
                values["weight_g"] = row.weight_g
            changed = [name for name, value in values.items() if getattr(sku, name) != value]
            if changed:
                Sku.objects.filter(pk=sku.pk).update(**{name: values[name] for name in changed})
            changed_stock = row.stock is not None and row.stock != sku.stock
            outcome = "skus_updated" if changed or changed_stock else "skus_unchanged"
        if changed_stock and row.stock is not None:
            stock_set(
                sku_id=sku.pk,
                stock=row.stock,
                reason=StockLog.Reason.IMPORT,
                reference=self.reference,
                operator="import_products",
            )
        return outcome

    # -- lookups (get or create) --

    def _category_id(self, path: tuple[str, ...]) -> int:
        """The category at this path, created (with its parents) when missing.

        Raises: RowRejected when it cannot be created.
        """
        if path in self._category_ids:
            return self._category_ids[path]
        try:
            with transaction.atomic():
                return self._category_create(path)
        except DatabaseError as exc:
            self._caches_clear()
            raise RowRejected(f"分类保存失败：{exc.__class__.__name__}") from exc

    def _category_create(self, path: tuple[str, ...]) -> int:
        parent_id: int | None = None
        for depth in range(1, len(path) + 1):
            prefix = path[:depth]
            category_id = self._category_ids.get(prefix)
            if category_id is None:
                category_id = (
                    Category.objects.filter(parent_id=parent_id, name=prefix[-1])
                    .order_by("id")
                    .values_list("id", flat=True)
                    .first()
                )
                if category_id is None:
                    category_id = Category.objects.create(parent_id=parent_id, name=prefix[-1]).pk
                    if prefix not in self._categories_made:  # a dry run makes them per batch
                        self._categories_made.add(prefix)
                        self.summary.categories_created += 1
                self._category_ids[prefix] = category_id
            parent_id = category_id
        assert parent_id is not None  # noqa: S101  path is never empty (row_parse)
        return parent_id

    def _brand_id(self, name: str) -> int:
        if name not in self._brand_ids:
            self._brand_ids[name] = Brand.objects.get_or_create(name=name)[0].pk
        return self._brand_ids[name]

    def _tag_id(self, name: str) -> int:
        if name not in self._tag_ids:
            self._tag_ids[name] = Tag.objects.get_or_create(name=name)[0].pk
        return self._tag_ids[name]


def _integrity_reason(exc: IntegrityError) -> str:
    text = str(exc)
    if "sku_unique" in text or "spec_key" in text:
        return "规格组合与该商品已有的 SKU 重复"
    if "code" in text:
        return "SKU编码已存在"
    return f"保存失败（数据约束）：{text.splitlines()[0][:120]}"


def products_import(
    path: Path,
    *,
    dry_run: bool = False,
    batch_size: int = 500,
    on_reject: Callable[[int, str, Sequence[Any]], None] | None = None,
    on_progress: Callable[[ImportSummary], None] | None = None,
    on_header: Callable[[Sequence[Any]], None] | None = None,
) -> ImportSummary:
    """Import a .csv/.xlsx file (see the module docstring). Raises: ImportFileInvalid."""
    importer = ProductImporter(
        dry_run=dry_run,
        batch_size=batch_size,
        reference=f"import:{path.name}",
        on_reject=on_reject,
        on_progress=on_progress,
        on_header=on_header,
    )
    return importer.run(table_rows_read(path))
