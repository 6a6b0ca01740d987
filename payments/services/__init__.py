"""Writes of the payments app (HackSoft services): keyword-only, typed, `<entity>_<verb>`."""

from .ledger import ledger_record
from .pay import (
    PAID_TRADE_STATES,
    SettleOutcome,
    order_expire,
    order_paid_followups,
    order_pay,
    order_pay_sync,
    payment_attempt_close,
    payment_attempt_query,
    payment_attempts_sync,
    payment_notify_url,
    payment_settle,
)
from .reconciliation import BillFormatError, bill_parse, wechat_bill_reconcile, yuan_to_fen
from .refunds import (
    RefundLineInput,
    RefundOutcome,
    refund_for_attempt_locked,
    refund_notify_url,
    refund_query_sync,
    refund_request,
    refund_settle,
    refund_submit,
    refunds_sync,
)
from .top_ups import balance_overview, top_up_create, top_up_paid_locked

__all__ = [
    "PAID_TRADE_STATES",
    "BillFormatError",
    "RefundLineInput",
    "RefundOutcome",
    "SettleOutcome",
    "balance_overview",
    "bill_parse",
    "ledger_record",
    "order_expire",
    "order_paid_followups",
    "order_pay",
    "order_pay_sync",
    "payment_attempt_close",
    "payment_attempt_query",
    "payment_attempts_sync",
    "payment_notify_url",
    "payment_settle",
    "refund_for_attempt_locked",
    "refund_notify_url",
    "refund_query_sync",
    "refund_request",
    "refund_settle",
    "refund_submit",
    "refunds_sync",
    "top_up_create",
    "top_up_paid_locked",
    "wechat_bill_reconcile",
    "yuan_to_fen",
]
