import csv
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from openpyxl import Workbook

from catalog.product_export import products_export_rows


class Command(BaseCommand):
    help = "导出商品（每个 SKU 一行，列与 import_products 相同，可再导入）"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--format", choices=["csv", "xlsx"], help="默认取 --output 的扩展名，否则 csv"
        )
        parser.add_argument("--output", type=Path, help="输出文件；csv 时省略则写到标准输出")

    def handle(self, *args: Any, **options: Any) -> None:
        output: Path | None = options["output"]
        file_format = options["format"] or (
            "xlsx" if output is not None and output.suffix.lower() == ".xlsx" else "csv"
        )
        rows = 0
        if file_format == "xlsx":
            if output is None:
                raise CommandError("导出 xlsx 需要 --output 文件名")
            rows = self._xlsx_write(output)
        elif output is None:
            rows = self._csv_write(sys.stdout)
        else:
            with output.open("w", newline="", encoding="utf-8-sig") as file:
                rows = self._csv_write(file)
        if output is not None:
            self.stdout.write(f"已导出 {rows} 个 SKU 到 {output}")

    def _csv_write(self, file: Any) -> int:
        writer = csv.writer(file)
        count = -1
        for count, row in enumerate(products_export_rows()):  # noqa: B007
            writer.writerow(row)
        return max(count, 0)

    def _xlsx_write(self, output: Path) -> int:
        workbook = Workbook(write_only=True)  # rows go to a temporary file, not to memory
        sheet = workbook.create_sheet("商品")
        count = -1
        for count, row in enumerate(products_export_rows()):  # noqa: B007
            sheet.append(row)
        workbook.save(output)
        return max(count, 0)
