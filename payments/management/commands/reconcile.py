from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from mall.money import yuan
from payments.services import wechat_bill_reconcile


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"日期格式应为 YYYY-MM-DD：{text}") from exc


class Command(BaseCommand):
    help = "微信支付对账：下载某日账单与资金流水比对，写入对账记录；有差异时以非零状态退出"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--date", type=_date, default=None, help="账单日期 YYYY-MM-DD（默认昨天，北京时间）"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        bill_date = options["date"] or timezone.localdate() - timedelta(days=1)
        run = wechat_bill_reconcile(bill_date=bill_date)
        bill_note = "" if run.has_bill else "（微信无该日账单）"
        self.stdout.write(f"对账 {bill_date}{bill_note}")
        self.stdout.write(
            f"  微信: 收款 {run.theirs_payment_count} 笔 {yuan(run.theirs_payment_fen)} 元, "
            f"退款 {run.theirs_refund_count} 笔 {yuan(run.theirs_refund_fen)} 元"
        )
        self.stdout.write(
            f"  本地: 收款 {run.ours_payment_count} 笔 {yuan(run.ours_payment_fen)} 元, "
            f"退款 {run.ours_refund_count} 笔 {yuan(run.ours_refund_fen)} 元"
        )
        for difference in run.differences.all():
            self.stdout.write(
                f"  {difference.kind}: {difference.out_refund_no or difference.out_trade_no} "
                f"{difference.transaction_id} 本地 {difference.ours_fen} 微信 "
                f"{difference.theirs_fen} {difference.detail}"
            )
        self.stdout.write(f"差异 {run.differences_count} 条 (对账记录 #{run.pk})")
        if run.differences_count:
            raise CommandError(f"{run.differences_count} differences", returncode=1)
