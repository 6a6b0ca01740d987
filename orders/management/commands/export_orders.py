from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orders.exports import orders_created_between, orders_export_write
from orders.models import OrderStatus


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"日期格式应为 YYYY-MM-DD：{text}") from exc


class Command(BaseCommand):
    help = "导出订单到 Excel（按下单日期，北京时间，含首尾两天；流式写入，内存占用恒定）"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="date_from", required=True, help="起始日期 YYYY-MM-DD")
        parser.add_argument("--to", dest="date_to", required=True, help="结束日期 YYYY-MM-DD（含）")
        parser.add_argument(
            "--status",
            choices=OrderStatus.values,
            help="只导出该状态的订单：" + "，".join(f"{s.value}={s.label}" for s in OrderStatus),
        )
        parser.add_argument(
            "--output", type=Path, help="输出文件，默认 orders_<from>_<to>.xlsx（当前目录）"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        date_from, date_to = _date(options["date_from"]), _date(options["date_to"])
        if date_from > date_to:
            raise CommandError("--from 不能晚于 --to")
        output: Path = options["output"] or Path(f"orders_{date_from}_{date_to}.xlsx")
        if output.suffix.lower() != ".xlsx":
            raise CommandError("输出文件须以 .xlsx 结尾")
        orders = orders_created_between(
            date_from=date_from, date_to=date_to, status=options["status"]
        )
        count = orders_export_write(
            orders, output, progress=lambda done: self.stderr.write(f"已导出 {done} 行…")
        )
        self.stdout.write(f"已导出 {count} 个订单到 {output}")
