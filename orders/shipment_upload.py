"""The merchant's bulk shipping file (批量发货): an xlsx with 订单号, 快递公司, 快递单号.

Rows are streamed (openpyxl read-only mode), so a large file is never held in memory; each row
becomes a `ShipmentRow` for `orders.services.merchant.orders_ship_bulk`.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import IO, Any

from .services.merchant import CARRIERS, ShipmentRow

MAX_ROWS = 5000  # one HTTP request ships at most this many orders
COLUMNS: dict[str, tuple[str, ...]] = {
    "order_no": ("订单号", "订单编号", "order_no"),
    "carrier": ("快递公司", "物流公司", "快递", "carrier"),
    "tracking_no": ("快递单号", "运单号", "物流单号", "tracking_no"),
}
TEMPLATE_ROWS = 1000  # rows formatted as text in the template (long order numbers stay exact)


class ShipmentFileInvalid(ValueError):
    """The file cannot be read as a shipping file; `message` says why, in Chinese."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


# Excel keeps 15 significant digits: a longer number typed into a cell not formatted as text
# (an 18-digit order number) is already rounded in the file.
EXACT_DIGITS = 15


def _number_rounded(value: Any) -> bool:
    return isinstance(value, float) and abs(value) >= 10**EXACT_DIGITS


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a number typed into a cell not formatted as text
    return str(value).strip()


def _column_indexes(header: tuple[Any, ...]) -> dict[str, int]:
    names = [_cell_text(cell).lower() for cell in header]
    indexes: dict[str, int] = {}
    for key, aliases in COLUMNS.items():
        for alias in aliases:
            if alias.lower() in names:
                indexes[key] = names.index(alias.lower())
                break
        else:
            raise ShipmentFileInvalid(
                f"第 1 行缺少「{aliases[0]}」列（需要：订单号、快递公司、快递单号）"
            )
    return indexes


def shipment_rows_read(file: IO[bytes]) -> Iterator[ShipmentRow]:
    """The data rows of the first sheet (blank rows skipped).

    Raises: ShipmentFileInvalid (not an xlsx file, missing columns, more than MAX_ROWS rows:
    raised when the row past the limit is reached, after the rows before it were yielded).
    """
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(file, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise ShipmentFileInvalid("无法读取文件：请上传 Excel（.xlsx）文件") from exc
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise ShipmentFileInvalid("文件是空的")
        columns = _column_indexes(header)
        count = 0
        for number, values in enumerate(rows, start=2):
            raw = {
                key: values[index] if index < len(values) else None
                for key, index in columns.items()
            }
            cells = {key: _cell_text(value) for key, value in raw.items()}
            if not any(cells.values()):
                continue
            rounded = [COLUMNS[key][0] for key, value in raw.items() if _number_rounded(value)]
            problem = (
                f"「{'、'.join(rounded)}」被 Excel 存成了数字，末尾几位已丢失："
                "请把该列设为文本后重新填写（可下载模板）"
                if rounded
                else ""
            )
            count += 1
            if count > MAX_ROWS:
                raise ShipmentFileInvalid(
                    f"一次最多处理 {MAX_ROWS} 行：第 {number} 行及以后未处理，请分成多个文件上传"
                )
            yield ShipmentRow(row=number, problem=problem, **cells)
    finally:
        workbook.close()


def shipment_template_xlsx() -> bytes:
    """The file the merchant fills in: the three columns as text, a carrier drop-down and a
    sheet of instructions."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.worksheet.datavalidation import DataValidation

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "发货"
    sheet.append([aliases[0] for aliases in COLUMNS.values()])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for letter, width in (("A", 24), ("B", 14), ("C", 26)):
        sheet.column_dimensions[letter].width = width
    for row in sheet.iter_rows(min_row=2, max_row=TEMPLATE_ROWS + 1, max_col=3):
        for cell in row:
            cell.number_format = "@"  # text: Excel would round an 18-digit order number
    carriers = DataValidation(
        type="list", formula1='"' + ",".join(CARRIERS.values()) + '"', allow_blank=True
    )
    carriers.add(f"B2:B{TEMPLATE_ROWS + 1}")
    sheet.add_data_validation(carriers)
    sheet.freeze_panes = "A2"

    notes = workbook.create_sheet("说明")
    for line in (
        "每行一个订单：订单号、快递公司、快递单号。",
        "快递公司可填：" + "、".join(CARRIERS.values()) + "（也可填简称，如「顺丰」「中通」）。",
        "已按相同单号发货的订单会显示「此前已发货」，不会重复通知买家，可放心重新上传。",
        f"一次最多 {MAX_ROWS} 行。",
    ):
        notes.append([line])
    notes.column_dimensions["A"].width = 90

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
