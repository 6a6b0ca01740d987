"""对账: WeChat's daily bill against the ledger.

The bill (downloadbill, bill_type ALL) is text: a header row, one row per payment (交易状态
SUCCESS) or finished refund (REFUND), every field prefixed with a backquote, then a summary header
and row. Amounts are yuan with two decimals, parsed as strings into fen (never through float).
Payments are matched by transaction_id, refunds by out_refund_no; a day is an Asia/Shanghai date,
and ledger rows carry WeChat's own time (time_end, success_time), so both sides cut days alike.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import transaction

from .. import wechat
from ..models import (
    LedgerEntry,
    PaymentAttempt,
    ReconciliationDifference,
    ReconciliationRun,
    Refund,
)

logger = logging.getLogger(__name__)

BOM = "\ufeff"
SUMMARY_HEADER_START = "总交易单数"
YUAN_PATTERN = re.compile(r"(-?)(\d+)(?:\.(\d{1,2}))?")


class BillFormatError(ValueError):
    """The bill's text is not in WeChat's layout."""


def yuan_to_fen(text: str) -> int:
    """ "12.34" → 1234, "0.5" → 50, "-1.00" → -100; exact, no float.

    Raises: BillFormatError.
    """
    match = YUAN_PATTERN.fullmatch(text.strip())
    if match is None:
        raise BillFormatError(f"not an amount in yuan: {text!r}")
    sign, whole, cents = match.groups()
    fen = int(whole) * 100 + int((cents or "0").ljust(2, "0"))
    return -fen if sign else fen


@dataclass(frozen=True)
class BillPayment:
    transaction_id: str
    out_trade_no: str
    total_fen: int


@dataclass(frozen=True)
class BillRefund:
    out_refund_no: str
    transaction_id: str
    out_trade_no: str
    refund_fen: int
    refund_status: str


@dataclass
class Bill:
    payments: dict[str, BillPayment] = field(default_factory=dict)  # by transaction_id
    refunds: dict[str, BillRefund] = field(default_factory=dict)  # by out_refund_no
    # The bill's own summary row: 总交易单数, 应结订单总金额, 退款总金额 (fen).
    summary_count: int = 0
    summary_settlement_fen: int = 0
    summary_refund_fen: int = 0


def _fields(row: str) -> list[str]:
    """Every field starts with a backquote: split on ",`" so a comma inside 商品名称 survives."""
    row = row.strip()
    if not row.startswith("`"):
        raise BillFormatError(f"a data row must start with a backquote: {row[:60]!r}")
    return row[1:].split(",`")


def bill_parse(text: str) -> Bill:
    """WeChat's ALL bill → payments and refunds in fen.

    Raises: BillFormatError.
    """
    lines = [line for line in text.lstrip(BOM).splitlines() if line.strip()]
    summary_at = next(
        (i for i, line in enumerate(lines) if line.startswith(SUMMARY_HEADER_START)), None
    )
    if not lines or summary_at is None or summary_at + 1 >= len(lines):
        raise BillFormatError("no header or summary rows")
    header = [name.strip() for name in lines[0].split(",")]
    bill = Bill()
    for row in lines[1:summary_at]:
        values = _fields(row)
        if len(values) != len(header):
            raise BillFormatError(f"{len(values)} fields, the header has {len(header)}")
        record = dict(zip(header, values, strict=True))
        state = record["交易状态"]
        if state == "SUCCESS":
            bill.payments[record["微信订单号"]] = BillPayment(
                transaction_id=record["微信订单号"],
                out_trade_no=record["商户订单号"],
                total_fen=yuan_to_fen(record["订单金额"]),
            )
        elif state == "REFUND":
            bill.refunds[record["商户退款单号"]] = BillRefund(
                out_refund_no=record["商户退款单号"],
                transaction_id=record["微信订单号"],
                out_trade_no=record["商户订单号"],
                refund_fen=yuan_to_fen(record["退款金额"]),
                refund_status=record["退款状态"],
            )
        else:
            logger.warning("bill row with 交易状态 %s ignored: %s", state, record["商户订单号"])
    summary_names = [name.strip() for name in lines[summary_at].split(",")]
    summary = dict(zip(summary_names, _fields(lines[summary_at + 1]), strict=False))
    bill.summary_count = int(summary.get("总交易单数", "0"))
    bill.summary_settlement_fen = yuan_to_fen(summary.get("应结订单总金额", "0"))
    bill.summary_refund_fen = yuan_to_fen(summary.get("退款总金额", "0"))
    return bill


@dataclass(frozen=True)
class _Ours:
    amount_fen: int
    out_trade_no: str
    transaction_id: str


def _day_bounds(bill_date: date) -> tuple[datetime, datetime]:
    start = datetime.combine(bill_date, time.min, tzinfo=wechat.SHANGHAI)
    return start, start + timedelta(days=1)


def _ours_for_day(bill_date: date) -> tuple[dict[str, _Ours], dict[str, _Ours]]:
    start, end = _day_bounds(bill_date)
    entries = LedgerEntry.objects.filter(
        channel=LedgerEntry.Channel.WECHAT, occurred_at__gte=start, occurred_at__lt=end
    ).select_related("attempt", "refund")
    payments: dict[str, _Ours] = {}
    refunds: dict[str, _Ours] = {}
    for entry in entries:
        out_trade_no = entry.attempt.out_trade_no if entry.attempt else ""
        if entry.kind == LedgerEntry.Kind.WECHAT_PAYMENT:
            transaction_id = entry.external_key.removeprefix("wxpay:")
            payments[transaction_id] = _Ours(entry.amount_fen, out_trade_no, transaction_id)
        elif entry.kind == LedgerEntry.Kind.WECHAT_REFUND:
            out_refund_no = entry.external_key.removeprefix("wxrefund:")
            transaction_id = (entry.attempt.transaction_id or "") if entry.attempt else ""
            refunds[out_refund_no] = _Ours(entry.amount_fen, out_trade_no, transaction_id)
    return payments, refunds


def _compare_payments(
    ours: dict[str, _Ours], theirs: dict[str, BillPayment]
) -> list[ReconciliationDifference]:
    differences = []
    for transaction_id, bill in theirs.items():
        mine = ours.get(transaction_id)
        if mine is None:
            attempt = PaymentAttempt.objects.filter(out_trade_no=bill.out_trade_no).first()
            known = attempt is not None and attempt.status != PaymentAttempt.Status.PAID
            differences.append(
                ReconciliationDifference(
                    kind=ReconciliationDifference.Kind.STATUS_DIFFERS
                    if known
                    else ReconciliationDifference.Kind.MISSING_HERE,
                    out_trade_no=bill.out_trade_no,
                    transaction_id=transaction_id,
                    theirs_fen=bill.total_fen,
                    detail=f"微信已收款，本地支付单状态 {attempt.status}"
                    if known and attempt
                    else "微信已收款，本地无收款流水",
                )
            )
        elif mine.amount_fen != bill.total_fen:
            differences.append(
                ReconciliationDifference(
                    kind=ReconciliationDifference.Kind.AMOUNT_DIFFERS,
                    out_trade_no=bill.out_trade_no,
                    transaction_id=transaction_id,
                    ours_fen=mine.amount_fen,
                    theirs_fen=bill.total_fen,
                    detail="收款金额不一致",
                )
            )
    differences.extend(
        ReconciliationDifference(
            kind=ReconciliationDifference.Kind.MISSING_THERE,
            out_trade_no=mine.out_trade_no,
            transaction_id=transaction_id,
            ours_fen=mine.amount_fen,
            detail="本地有收款流水，微信账单无此交易",
        )
        for transaction_id, mine in ours.items()
        if transaction_id not in theirs
    )
    return differences


def _compare_refunds(
    ours: dict[str, _Ours], theirs: dict[str, BillRefund]
) -> list[ReconciliationDifference]:
    differences = []
    for out_refund_no, bill in theirs.items():
        mine = ours.get(out_refund_no)
        common = {
            "out_trade_no": bill.out_trade_no,
            "out_refund_no": out_refund_no,
            "transaction_id": bill.transaction_id,
            "theirs_fen": bill.refund_fen,
        }
        if mine is None and bill.refund_status != "SUCCESS":
            continue  # neither side counts it as money moved
        if mine is None:
            status = Refund.objects.filter(out_refund_no=out_refund_no).values_list(
                "status", flat=True
            )
            known = status.first()
            differences.append(
                ReconciliationDifference(
                    kind=ReconciliationDifference.Kind.STATUS_DIFFERS
                    if known
                    else ReconciliationDifference.Kind.MISSING_HERE,
                    detail=f"微信已退款，本地退款状态 {known}"
                    if known
                    else "微信已退款，本地无退款",
                    **common,
                )
            )
        elif bill.refund_status != "SUCCESS":
            differences.append(
                ReconciliationDifference(
                    kind=ReconciliationDifference.Kind.STATUS_DIFFERS,
                    ours_fen=mine.amount_fen,
                    detail=f"本地已退款，微信退款状态 {bill.refund_status}",
                    **common,
                )
            )
        elif mine.amount_fen != bill.refund_fen:
            differences.append(
                ReconciliationDifference(
                    kind=ReconciliationDifference.Kind.AMOUNT_DIFFERS,
                    ours_fen=mine.amount_fen,
                    detail="退款金额不一致",
                    **common,
                )
            )
    differences.extend(
        ReconciliationDifference(
            kind=ReconciliationDifference.Kind.MISSING_THERE,
            out_trade_no=mine.out_trade_no,
            out_refund_no=out_refund_no,
            transaction_id=mine.transaction_id,
            ours_fen=mine.amount_fen,
            detail="本地有退款流水，微信账单无此退款",
        )
        for out_refund_no, mine in ours.items()
        if out_refund_no not in theirs
    )
    return differences


def wechat_bill_reconcile(*, bill_date: date) -> ReconciliationRun:
    """Download WeChat's bill for `bill_date` (Asia/Shanghai) and compare it with the ledger;
    writes a ReconciliationRun with one ReconciliationDifference per mismatch.

    Raises: WechatUnavailable, BillFormatError.
    """
    text = wechat.bill_download(bill_date)  # no lock or transaction is open here
    bill = bill_parse(text) if text is not None else Bill()
    ours_payments, ours_refunds = _ours_for_day(bill_date)
    differences = _compare_payments(ours_payments, bill.payments) + _compare_refunds(
        ours_refunds, bill.refunds
    )
    theirs_refunds = [r for r in bill.refunds.values() if r.refund_status == "SUCCESS"]
    with transaction.atomic():
        run = ReconciliationRun.objects.create(
            bill_date=bill_date,
            status=ReconciliationRun.Status.DIFFERENCES
            if differences
            else ReconciliationRun.Status.MATCHED,
            has_bill=text is not None,
            ours_payment_count=len(ours_payments),
            ours_payment_fen=sum(p.amount_fen for p in ours_payments.values()),
            ours_refund_count=len(ours_refunds),
            ours_refund_fen=sum(r.amount_fen for r in ours_refunds.values()),
            theirs_payment_count=len(bill.payments),
            theirs_payment_fen=sum(p.total_fen for p in bill.payments.values()),
            theirs_refund_count=len(theirs_refunds),
            theirs_refund_fen=sum(r.refund_fen for r in theirs_refunds),
            differences_count=len(differences),
        )
        for difference in differences:
            difference.run = run
        ReconciliationDifference.objects.bulk_create(differences)
    if differences:
        logger.error("reconciliation of %s: %d differences", bill_date, len(differences))
    return run
