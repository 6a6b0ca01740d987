"""Writes of the payments app (HackSoft services): keyword-only, typed, `<entity>_<verb>`."""

from .group_buy import group_buy_expire, group_buy_order_refund, group_buys_expire
from .ledger import ledger_record
from .pay import (
    PAID_TRADE_STATES,
    SettleOutcome,
    order_expire,
    order_expire_unless_wechat_busy,
    order_paid_followups,
    order_pay,
    order_pay_sync,
    paid_followups_sweep,
    payment_attempt_close,
    payment_attempt_query,
    payment_attempts_sync,
    payment_settle,
)
from .prepay import payment_notify_url
from .reconciliation import BillFormatError, bill_parse, wechat_bill_reconcile, yuan_to_fen
from .refunds import (
    RefundLineInput,
    RefundOutcome,
    refund_change_retry,
    refund_for_attempt_locked,
    refund_notify_url,
    refund_query_sync,
    refund_request,
    refund_settle,
    refund_submit,
    refunds_change_count,
    refunds_sync,
)
from .top_up_refunds import top_up_refund
from .top_ups import balance_overview, top_up_create, top_up_paid_locked

__all__ = [
    "PAID_TRADE_STATES",
    "BillFormatError",
    "RefundLineInput",
    "RefundOutcome",
    "SettleOutcome",
    "balance_overview",
    "bill_parse",
    "group_buy_expire",
    "group_buy_order_refund",
    "group_buys_expire",
    "ledger_record",
    "order_expire",
    "order_expire_unless_wechat_busy",
    "order_paid_followups",
    "order_pay",
    "order_pay_sync",
    "paid_followups_sweep",
    "payment_attempt_close",
    "payment_attempt_query",
    "payment_attempts_sync",
    "payment_notify_url",
    "payment_settle",
    "refund_change_retry",
    "refund_for_attempt_locked",
    "refund_notify_url",
    "refund_query_sync",
    "refund_request",
    "refund_settle",
    "refund_submit",
    "refunds_change_count",
    "refunds_sync",
    "top_up_create",
    "top_up_paid_locked",
    "top_up_refund",
    "wechat_bill_reconcile",
    "yuan_to_fen",
]
