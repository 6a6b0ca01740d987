"""WeChat Pay's side of the books: trades and refunds in SimState, changed under `state.lock`.

Wire parsing and validation live in pay.py; this module decides what a valid request does to the
trade and refund records. Business refusals raise PayError, rendered by pay.py as
`result_code=FAIL, err_code, err_code_des`.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from wechat_sim.errors import BadRequestError
from wechat_sim.state import CHINA_TZ, SimState

PREPAY_TTL_SECONDS = 2 * 3600  # a prepay_id is valid for 2 hours
REFUND_WINDOW_SECONDS = 365 * 24 * 3600  # refunds are refused a year after payment
BANK_TYPE = "OTHERS"
REFUND_RECEIVED_BY = "支付用户的零钱"
# Fields that must match when an unpaid out_trade_no is ordered again (else OUT_TRADE_NO_USED).
REORDER_COMPARED_FIELDS = (
    "body",
    "total_fee",
    "fee_type",
    "trade_type",
    "openid",
    "attach",
    "notify_url",
    "product_id",
)

NOTPAY, SUCCESS, REFUND, CLOSED = "NOTPAY", "SUCCESS", "REFUND", "CLOSED"
PAID_STATES = (SUCCESS, REFUND)
REFUND_PROCESSING, REFUND_SUCCESS = "PROCESSING", "SUCCESS"
REFUND_RESULTS = ("SUCCESS", "CHANGE", "REFUNDCLOSE")  # what a PROCESSING refund can become


class PayError(Exception):
    """A business refusal: result_code=FAIL with this err_code and err_code_des."""

    def __init__(self, err_code: str, err_code_des: str) -> None:
        super().__init__(f"{err_code} {err_code_des}")
        self.err_code = err_code
        self.err_code_des = err_code_des


class PaymentConflictError(Exception):
    """/_sim/pay on a trade that is already paid (HTTP 409)."""

    def __init__(self, trade: Trade) -> None:
        super().__init__(f"order {trade.out_trade_no} is already paid")
        self.trade = trade


@dataclass
class Trade:
    out_trade_no: str
    appid: str
    mch_id: str
    trade_type: str
    body: str
    total_fee: int
    fee_type: str
    notify_url: str
    openid: str
    attach: str
    detail: str
    device_info: str
    product_id: str
    spbill_create_ip: str
    sign_type: str
    prepay_id: str
    prepay_expires_at: float
    created_at: float
    time_expire: str  # yyyyMMddHHmmss, Asia/Shanghai
    expires_at: float
    state: str = NOTPAY
    transaction_id: str = ""
    time_end: str = ""  # yyyyMMddHHmmss, Asia/Shanghai
    paid_at: float | None = None
    closed_at: float | None = None
    out_refund_nos: list[str] = field(default_factory=list)


@dataclass
class Refund:
    out_refund_no: str
    refund_id: str
    out_trade_no: str
    transaction_id: str
    total_fee: int
    refund_fee: int
    refund_account: str
    refund_desc: str
    notify_url: str
    created_at: float
    status: str = REFUND_PROCESSING
    success_time: str = ""  # yyyy-MM-dd HH:mm:ss, only when SUCCESS
    completed_at: float | None = None


def china_time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=CHINA_TZ)


def compact_time(epoch: float) -> str:
    return china_time(epoch).strftime("%Y%m%d%H%M%S")


def display_time(epoch: float) -> str:
    return china_time(epoch).strftime("%Y-%m-%d %H:%M:%S")


def _next_sequence(state: SimState) -> int:
    state.pay_sequence += 1
    return state.pay_sequence


def _prepay_id(state: SimState) -> str:
    # Real ones: "wx" + yyyyMMddHHmmss + 20 hex-ish characters (36 in all).
    return f"wx{compact_time(state.now())}{secrets.token_hex(10)}"


def _transaction_id(state: SimState) -> str:
    # 28 digits, like 4200001234202401011234567890.
    day = china_time(state.now()).strftime("%Y%m%d")
    return f"4200{_next_sequence(state):06d}{day}{secrets.randbelow(10**10):010d}"


def _refund_id(state: SimState) -> str:
    # 29 digits, like 50300001234202401011234567890 (50 = 原路退回 to 零钱).
    day = china_time(state.now()).strftime("%Y%m%d")
    return f"50300{_next_sequence(state):06d}{day}{secrets.randbelow(10**10):010d}"


def trade_order(state: SimState, order: dict[str, Any], *, min_expire_at: float) -> Trade:
    """unifiedorder on validated fields; an identical unpaid repeat returns the same trade.

    time_expire counts only on the first order of an out_trade_no ("只能第一次下单传值"), and
    must then be at least `min_expire_at`.
    Raises: PayError ORDERPAID, ORDERCLOSED, OUT_TRADE_NO_USED, PARAM_ERROR.
    """
    with state.lock:
        now = state.now()
        existing: Trade | None = state.trades.get(order["out_trade_no"])
        if existing is not None:
            if existing.state in PAID_STATES:
                raise PayError("ORDERPAID", "该订单已支付")
            if existing.state == CLOSED:
                raise PayError("ORDERCLOSED", "该订单已关闭")
            if any(getattr(existing, name) != order[name] for name in REORDER_COMPARED_FIELDS):
                raise PayError("OUT_TRADE_NO_USED", "商户订单号重复")
            if now >= existing.prepay_expires_at:  # re-ordering after 2 h gives a new prepay_id
                state.prepay_index.pop(existing.prepay_id, None)
                existing.prepay_id = _prepay_id(state)
                existing.prepay_expires_at = now + PREPAY_TTL_SECONDS
                state.prepay_index[existing.prepay_id] = existing.out_trade_no
            return existing
        if order["expires_at"] < min_expire_at:
            raise PayError("PARAM_ERROR", "time_expire时间过短，刷卡至少1分钟，其他5分钟")
        trade = Trade(
            **order,
            prepay_id=_prepay_id(state),
            prepay_expires_at=now + PREPAY_TTL_SECONDS,
            created_at=now,
        )
        state.trades[trade.out_trade_no] = trade
        state.prepay_index[trade.prepay_id] = trade.out_trade_no
        return trade


def trade_find(
    state: SimState, *, transaction_id: str = "", out_trade_no: str = "", missing: PayError
) -> Trade:
    """By transaction_id when given (WeChat's precedence), else out_trade_no; raises `missing`."""
    with state.lock:
        if transaction_id:
            out_trade_no = state.transaction_index.get(transaction_id, "")
        trade: Trade | None = state.trades.get(out_trade_no) if out_trade_no else None
        if trade is None:
            raise missing
        return trade


def trade_close(state: SimState, out_trade_no: str) -> Trade:
    """Raises: PayError ORDERNOTEXIST, ORDERPAID, ORDERCLOSED. (The 5-minute rule is not enforced.)"""
    with state.lock:
        trade = trade_find(
            state, out_trade_no=out_trade_no, missing=PayError("ORDERNOTEXIST", "订单不存在")
        )
        if trade.state in PAID_STATES:
            raise PayError("ORDERPAID", "订单已支付，不能发起关单")
        if trade.state == CLOSED:
            raise PayError("ORDERCLOSED", "订单已关闭，无法重复关闭")
        trade.state = CLOSED
        trade.closed_at = state.now()
        return trade


def trade_pay(state: SimState, prepay_id: str) -> Trade:
    """The shopper pays. Raises BadRequestError (unknown, expired, closed), PaymentConflictError."""
    with state.lock:
        out_trade_no = state.prepay_index.get(prepay_id)
        if out_trade_no is None:
            raise BadRequestError(f"unknown prepay_id {prepay_id!r}")
        trade: Trade = state.trades[out_trade_no]
        if trade.state in PAID_STATES:
            raise PaymentConflictError(trade)
        now = state.now()
        if trade.state == CLOSED:
            raise BadRequestError(f"order {out_trade_no} is closed")
        if now >= trade.prepay_expires_at:
            raise BadRequestError(f"prepay_id {prepay_id!r} expired (valid 2 hours)")
        if now >= trade.expires_at:
            raise BadRequestError(
                f"order {out_trade_no} expired at time_expire {trade.time_expire}"
            )
        trade.state = SUCCESS
        trade.paid_at = now
        trade.time_end = compact_time(now)
        trade.transaction_id = _transaction_id(state)
        state.transaction_index[trade.transaction_id] = out_trade_no
        return trade


def refund_apply(state: SimState, request: dict[str, Any]) -> tuple[Refund, bool]:
    """Accept a refund request; returns (refund, is_new). A same-fee repeat returns the first.

    Raises: PayError INVALID_TRANSACTIONID, ORDERNOTEXIST, TRADE_OVERDUE, PARAM_ERROR, NOTENOUGH.
    """
    with state.lock:
        trade = trade_find(
            state,
            transaction_id=request["transaction_id"],
            out_trade_no=request["out_trade_no"],
            missing=PayError("INVALID_TRANSACTIONID", "无效transaction_id")
            if request["transaction_id"]
            else PayError("ORDERNOTEXIST", "订单不存在"),
        )
        if trade.state not in PAID_STATES or trade.paid_at is None:
            raise PayError("ORDERNOTEXIST", "订单不存在或未支付")
        earlier: Refund | None = state.refunds.get(request["out_refund_no"])
        if earlier is not None:
            if (
                earlier.out_trade_no != trade.out_trade_no
                or earlier.refund_fee != request["refund_fee"]
                or earlier.total_fee != request["total_fee"]
            ):
                raise PayError("PARAM_ERROR", "订单金额或退款金额与之前请求不一致，请核实后再试")
            return earlier, False
        if request["total_fee"] != trade.total_fee:
            raise PayError("PARAM_ERROR", "订单金额与实际支付金额不一致")
        now = state.now()
        if now - trade.paid_at > REFUND_WINDOW_SECONDS:
            raise PayError("TRADE_OVERDUE", "订单已经超过退款期限")
        if refund_total(state, trade) + request["refund_fee"] > trade.total_fee:
            raise PayError("NOTENOUGH", "订单可退金额不足")
        refund = Refund(
            out_refund_no=request["out_refund_no"],
            refund_id=_refund_id(state),
            out_trade_no=trade.out_trade_no,
            transaction_id=trade.transaction_id,
            total_fee=trade.total_fee,
            refund_fee=request["refund_fee"],
            refund_account=request["refund_account"],
            refund_desc=request["refund_desc"],
            notify_url=request["notify_url"],
            created_at=now,
        )
        state.refunds[refund.out_refund_no] = refund
        state.refund_id_index[refund.refund_id] = refund.out_refund_no
        trade.out_refund_nos.append(refund.out_refund_no)
        trade.state = REFUND  # orderquery reports 转入退款 from the first refund on
        return refund, True


def refund_total(state: SimState, trade: Trade) -> int:
    """Fen refunded or being refunded; a closed (failed) refund gives its amount back."""
    with state.lock:
        refunds = [state.refunds[number] for number in trade.out_refund_nos]
        return sum(r.refund_fee for r in refunds if r.status != "REFUNDCLOSE")


def refund_complete(state: SimState, out_refund_no: str, result: str) -> Refund | None:
    """PROCESSING → `result`; None when the refund is gone (reset) or already final."""
    with state.lock:
        refund: Refund | None = state.refunds.get(out_refund_no)
        if refund is None or refund.status != REFUND_PROCESSING:
            return None
        now = state.now()
        refund.status = result
        refund.completed_at = now
        if result == REFUND_SUCCESS:
            refund.success_time = display_time(now)
        return refund


def refunds_find(state: SimState, query: dict[str, str]) -> tuple[Trade, list[Refund]]:
    """refundquery's lookup: refund_id > out_refund_no > transaction_id > out_trade_no."""
    missing = PayError("REFUNDNOTEXIST", "退款订单查询失败")
    with state.lock:
        out_refund_no = query.get("out_refund_no", "")
        if query.get("refund_id"):
            out_refund_no = state.refund_id_index.get(query["refund_id"], "")
        if query.get("refund_id") or out_refund_no:
            refund: Refund | None = state.refunds.get(out_refund_no)
            if refund is None:
                raise missing
            return state.trades[refund.out_trade_no], [refund]
        trade = trade_find(
            state,
            transaction_id=query.get("transaction_id", ""),
            out_trade_no=query.get("out_trade_no", ""),
            missing=missing,
        )
        if not trade.out_refund_nos:
            raise missing
        return trade, [state.refunds[number] for number in trade.out_refund_nos]


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else china_time(epoch).isoformat()


def trade_as_dict(state: SimState, trade: Trade) -> dict[str, Any]:
    """JSON for /_sim/trades: the trade with its refunds, times as ISO 8601 (+08:00)."""
    with state.lock:
        data = asdict(trade)
        for key in ("prepay_expires_at", "created_at", "expires_at", "paid_at", "closed_at"):
            data[key] = _iso(data[key])
        refunds = []
        for number in trade.out_refund_nos:
            refund = asdict(state.refunds[number])
            refund["created_at"], refund["completed_at"] = (
                _iso(refund["created_at"]),
                _iso(refund["completed_at"]),
            )
            refunds.append(refund)
        data["refunds"] = refunds
        data["refunded_fee"] = refund_total(state, trade)
        return data


def trades_list(state: SimState, *, out_trade_no: str | None = None) -> list[dict[str, Any]]:
    """Newest first, like the simulator's other lists."""
    with state.lock:
        trades = [t for t in state.trades.values() if out_trade_no in (None, t.out_trade_no)]
        return [trade_as_dict(state, t) for t in reversed(trades)]
