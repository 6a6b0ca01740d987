import csv
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.product_import import (
    ImportFileInvalid,
    ImportSummary,
    products_import,
    table_row_count_estimate,
)


class Command(BaseCommand):
    help = (
        "从 CSV/XLSX 导入商品：按 SKU编码 新建或更新；--dry-run 只校验并报告，不写入；"
        "被拒绝的行写入 --report 文件"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help=".csv 或 .xlsx 文件（表头见 export_products）")
        parser.add_argument("--dry-run", action="store_true", help="校验并演练，全部回滚")
        parser.add_argument("--report", type=Path, help="被拒绝行的 CSV 报告（行号、原因、原始值）")
        parser.add_argument("--batch-size", type=int, default=500, help="每个事务的行数")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"文件不存在：{path}")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size 必须大于 0")
        report_file = None
        report_writer = None
        total = table_row_count_estimate(path)

        def on_header(cells: Any) -> None:
            nonlocal report_file, report_writer
            if options["report"] is not None:  # written even when nothing is rejected
                report_file = options["report"].open("w", newline="", encoding="utf-8-sig")
                report_writer = csv.writer(report_file)
                report_writer.writerow(["行号", "原因", *("" if v is None else v for v in cells)])

        def on_reject(number: int, reason: str, raw: Any) -> None:
            if report_writer is not None:
                report_writer.writerow([number, reason, *("" if v is None else v for v in raw)])

        def on_progress(summary: ImportSummary) -> None:
            rate = summary.rows / summary.seconds if summary.seconds else 0.0
            share = f" ({min(summary.rows / total, 1):.0%})" if total else ""
            self.stderr.write(
                f"已处理 {summary.rows} 行{share}，{rate:,.0f} 行/秒，拒绝 {summary.rejected} 行"
            )
            self.stderr.flush()

        try:
            summary = products_import(
                path,
                dry_run=options["dry_run"],
                batch_size=options["batch_size"],
                on_reject=on_reject,
                on_progress=on_progress,
                on_header=on_header,
            )
        except ImportFileInvalid as exc:
            raise CommandError(str(exc)) from exc
        finally:
            if report_file is not None:
                report_file.close()
        self._summary_print(summary, options)

    def _summary_print(self, summary: ImportSummary, options: dict[str, Any]) -> None:
        prefix = "【演练，未写入】" if summary.dry_run else ""
        if summary.ignored_headers:
            self.stderr.write(f"已忽略未知列：{'、'.join(summary.ignored_headers)}")
        self.stdout.write(
            f"{prefix}共 {summary.rows} 行，用时 {summary.seconds:.1f} 秒："
            f"商品 新建 {summary.products_created}、更新 {summary.products_updated}、"
            f"无变化 {summary.products_unchanged}；"
            f"SKU 新建 {summary.skus_created}、更新 {summary.skus_updated}、"
            f"无变化 {summary.skus_unchanged}；新建分类 {summary.categories_created}；"
            f"拒绝 {summary.rejected} 行"
        )
        if summary.rejected:
            if options["report"] is not None:
                self.stdout.write(f"被拒绝的行见 {options['report']}")
            else:
                self.stdout.write("用 --report rejected.csv 查看被拒绝的行及原因")
