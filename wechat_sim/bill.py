"""The daily transaction bill of /pay/downloadbill, in WeChat's text layout (§3.7).

A header row; one row per payment (交易状态 SUCCESS) or refund (REFUND) of the day, every field
prefixed with a backquote; a summary header; the summary row. Amounts are yuan with 2 decimals,
fees 5 decimals, rate 0.60%, lines end in CRLF and the text starts with a UTF-8 BOM, as real bills
do (wechatpy PR #565): wechatpy 1.8.18 hands the BOM through as "\\ufeff", so a parser must strip it.
Days are Asia/Shanghai dates; unlike WeChat (bills from 09:00 the next day) today's bill is ready
at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wechat_sim.pay_ledger import REFUND_SUCCESS, Refund, Trade, china_time, display_time
from wechat_sim.state import SimState

BOM = "\ufeff"
LINE_END = "\r\n"
FEE_RATE_PER_MILLE = 6  # 0.60%
FEE_RATE_TEXT = "0.60%"
BILL_TYPES = ("ALL", "SUCCESS", "REFUND")

_FIRST = ["交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号"]
_FIRST += ["用户标识", "交易类型", "交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额"]
_REFUND = ["微信退款单号", "商户退款单号", "退款金额", "充值券退款金额", "退款类型", "退款状态"]
_LAST = ["商品名称", "商户数据包", "手续费", "费率", "订单金额"]
COLUMNS = {
    "ALL": [*_FIRST, *_REFUND, *_LAST, "申请退款金额", "费率备注"],
    "SUCCESS": [*_FIRST, *_LAST, "费率备注"],
    "REFUND": [
        *_FIRST,
        "退款申请时间",
        "退款成功时间",
        *_REFUND,
        *_LAST,
        "申请退款金额",
        "费率备注",
    ],
}
SUMMARY_COLUMNS = ["总交易单数", "应结订单总金额", "退款总金额", "充值券退款总金额", "手续费总金额"]
SUMMARY_COLUMNS += ["订单总金额", "申请退款总金额"]


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def fee_fen(amount_fen: int) -> int:
    """0.60% of the amount, rounded half up to the fen (WeChat charges whole fen)."""
    return (amount_fen * FEE_RATE_PER_MILLE + 500) // 1000


def fee_text(fen: int) -> str:
    return yuan(fen) + "000"  # the fee column has 5 decimals; WeChat's fees are whole fen


@dataclass(frozen=True)
class BillLine:
    """One row's values by column name, and the amounts the summary adds up."""

    values: dict[str, str]
    settlement_fen: int
    refund_fen: int
    fee_fen: int
    order_fen: int


def _trade_values(trade: Trade, time_text: str, status: str) -> dict[str, str]:
    return {
        "交易时间": time_text,
        "公众账号ID": trade.appid,
        "商户号": trade.mch_id,
        "特约商户号": "0",
        "设备号": trade.device_info,
        "微信订单号": trade.transaction_id,
        "商户订单号": trade.out_trade_no,
        "用户标识": trade.openid,
        "交易类型": trade.trade_type,
        "交易状态": status,
        "付款银行": "OTHERS",
        "货币种类": trade.fee_type,
        "代金券金额": "0.00",
        "充值券退款金额": "0.00",
        "商品名称": trade.body,
        "商户数据包": trade.attach,
        "费率": FEE_RATE_TEXT,
        "费率备注": "",
    }


def _payment_line(trade: Trade) -> BillLine:
    assert trade.paid_at is not None  # noqa: S101 - only paid trades reach the bill
    values = _trade_values(trade, display_time(trade.paid_at), "SUCCESS")
    fee = fee_fen(trade.total_fee)
    values |= {
        "应结订单金额": yuan(trade.total_fee),
        "微信退款单号": "0",
        "商户退款单号": "0",
        "退款金额": "0.00",
        "退款类型": "",
        "退款状态": "",
        "手续费": fee_text(fee),
        "订单金额": yuan(trade.total_fee),
        "申请退款金额": "0.00",
    }
    return BillLine(values, trade.total_fee, 0, fee, trade.total_fee)


def _refund_line(trade: Trade, refund: Refund) -> BillLine:
    assert refund.completed_at is not None  # noqa: S101 - only finished refunds reach the bill
    values = _trade_values(trade, display_time(refund.completed_at), "REFUND")
    fee = -fee_fen(refund.refund_fee)  # the fee on the refunded part is given back
    values |= {
        "应结订单金额": "0.00",
        "退款申请时间": display_time(refund.created_at),
        "退款成功时间": display_time(refund.completed_at),
        "微信退款单号": refund.refund_id,
        "商户退款单号": refund.out_refund_no,
        "退款金额": yuan(refund.refund_fee),
        "退款类型": "ORIGINAL",
        "退款状态": "SUCCESS",
        "手续费": fee_text(fee),
        "订单金额": "0.00",
        "申请退款金额": yuan(refund.refund_fee),
    }
    return BillLine(values, 0, refund.refund_fee, fee, 0)


def _is_on(epoch: float | None, bill_date: str) -> bool:
    return epoch is not None and china_time(epoch).strftime("%Y%m%d") == bill_date


def bill_lines(state: SimState, *, bill_date: str, bill_type: str) -> list[BillLine]:
    """Payments made and refunds completed on `bill_date` (yyyyMMdd), in time order."""
    with state.lock:
        timed: list[tuple[float, BillLine]] = []
        if bill_type in ("ALL", "SUCCESS"):
            timed.extend(
                (trade.paid_at, _payment_line(trade))
                for trade in state.trades.values()
                if trade.paid_at is not None and _is_on(trade.paid_at, bill_date)
            )
        if bill_type in ("ALL", "REFUND"):
            for refund in state.refunds.values():
                if refund.status == REFUND_SUCCESS and _is_on(refund.completed_at, bill_date):
                    trade = state.trades[refund.out_trade_no]
                    timed.append((refund.completed_at, _refund_line(trade, refund)))
    timed.sort(key=lambda pair: pair[0])
    return [line for _, line in timed]


def bill_text(lines: Sequence[BillLine], *, bill_type: str) -> str:
    columns = COLUMNS[bill_type]
    rows = [",".join(columns)]
    rows += [",".join("`" + line.values.get(column, "") for column in columns) for line in lines]
    summary = [
        str(len(lines)),
        yuan(sum(line.settlement_fen for line in lines)),
        yuan(sum(line.refund_fen for line in lines)),
        "0.00",
        fee_text(sum(line.fee_fen for line in lines)),
        yuan(sum(line.order_fen for line in lines)),
        yuan(sum(line.refund_fen for line in lines)),
    ]
    rows += [",".join(SUMMARY_COLUMNS), ",".join("`" + value for value in summary)]
    return BOM + "".join(row + LINE_END for row in rows)
