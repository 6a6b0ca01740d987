from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from orders.services import orders_sweep
from payments.services import order_expire_unless_wechat_busy

MAX_ROUNDS = 10_000


class Command(BaseCommand):
    help = "处理到期订单：超时未支付自动取消、自动确认收货、售后期满自动完成（可重复、可与 worker 并行执行）"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        totals = {"expired": 0, "received": 0, "completed": 0, "uploaded": 0}
        for _ in range(MAX_ROUNDS):
            # Like the beat task: expiry asks WeChat Pay first, so a paid order is settled instead.
            result = orders_sweep(
                batch_size=options["batch_size"], expire=order_expire_unless_wechat_busy
            )
            for key in totals:
                totals[key] += result[key]
            if not result["has_more"]:
                break
        self.stdout.write(
            f"expired={totals['expired']} received={totals['received']} "
            f"completed={totals['completed']} uploaded={totals['uploaded']}"
        )
