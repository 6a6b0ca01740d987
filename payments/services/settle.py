"""The hot write of a WeChat payment notification, as one SQL statement.

A new payment of an ordinary order (no promotion) is five writes: the order pending → paid
(conditional), its status log row, the attempt paid, the ledger row "wxpay:<transaction_id>" and,
when the order took stored value, its "balance:spend:<no>" row. They go to PostgreSQL as one
statement of data-modifying CTEs, run in autocommit: one round trip, atomic and durable on its
own (WeChat gets SUCCESS only for a payment that is on disk), and prepared once per connection
(payments.sql). The order's UPDATE, orders' SQL (orders.sql.order_pay_ctes), decides: nothing
else is written unless it moved the order from pending, so a replay, an expired order or a race
lost writes nothing. The same statement reads the attempt as it was, so a replay is answered
without a second query. The payment's effects in other apps follow (paid_effects.py).

Everything else (an order with a promotion, an order no longer pending, another amount, a
top-up, an unknown trade) takes the careful path in pay.py: a transaction that locks the attempt,
decides and writes with `order_attempt_paid_locked`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from orders.models import Order, OrderStatus
from orders.selectors import order_get_for_balance_spend, order_member_id_get
from orders.services import order_transition

from ..models import LedgerEntry, PaymentAttempt
from ..sql import order_attempt_paid_fast_run
from .ledger import ledger_record

logger = logging.getLogger(__name__)

BALANCE_SPEND_KEY_PREFIX = "balance:spend:"
BALANCE_SPEND_NOTE = "余额支付"
ORDER_PAID_ACTOR = "wechat"


def _order_paid_note(transaction_id: str) -> str:
    return f"微信支付 {transaction_id}"


@dataclass(frozen=True)
class FastSettle:
    """What the statement did (order_id set: it paid the order) or, when it wrote nothing, the
    attempt as it was (status and transaction id; empty when there is no such attempt)."""

    order_id: int | None
    status: str
    transaction_id: str


def order_attempt_paid_fast(
    *, out_trade_no: str, transaction_id: str, amount_fen: int, paid_at: datetime, source: str
) -> FastSettle:
    """Pay an ordinary order's pending attempt `out_trade_no` of `amount_fen` in one statement
    (see the module): PostgreSQL only, in autocommit or the caller's transaction."""
    order_id, status, previous_transaction_id, payments_recorded = order_attempt_paid_fast_run(
        out_trade_no=out_trade_no,
        transaction_id=transaction_id,
        amount_fen=amount_fen,
        paid_at=paid_at,
        payment_note=f"{out_trade_no} ({source})",
        order_note=_order_paid_note(transaction_id),
        order_actor=ORDER_PAID_ACTOR,
        balance_key_prefix=BALANCE_SPEND_KEY_PREFIX,
        balance_note=BALANCE_SPEND_NOTE,
    )
    if order_id is not None and payments_recorded != 1:  # only a hand-edited database
        logger.error(
            "ledger has wxpay:%s but attempt %s was not paid", transaction_id, out_trade_no
        )
    return FastSettle(
        order_id=order_id, status=status or "", transaction_id=previous_transaction_id or ""
    )


def order_attempt_paid_locked(
    *, out_trade_no: str, transaction_id: str, amount_fen: int, paid_at: datetime, source: str
) -> tuple[int, bool] | None:
    """The careful path's writes, in the caller's transaction, the attempt locked by it: pay the
    order's attempt `out_trade_no` if it is not paid and its amount is `amount_fen`, record the
    ledger row, move the order pending → paid and log it. Returns (order id, whether the order
    moved), or None when no attempt matched: nothing was written."""
    unpaid = PaymentAttempt.objects.filter(
        out_trade_no=out_trade_no, amount_fen=amount_fen, order__isnull=False
    ).exclude(status=PaymentAttempt.Status.PAID)
    row = unpaid.values_list("pk", "order_id").first()
    if row is None:
        return None
    attempt_id, order_id = row
    if not unpaid.filter(pk=attempt_id).update(
        status=PaymentAttempt.Status.PAID,
        transaction_id=transaction_id,
        paid_at=paid_at,
        last_error="",
    ):
        return None  # paid in between
    member_id = order_member_id_get(order_id=order_id)
    if not ledger_record(
        kind=LedgerEntry.Kind.WECHAT_PAYMENT,
        direction=LedgerEntry.Direction.IN,
        channel=LedgerEntry.Channel.WECHAT,
        amount_fen=amount_fen,
        external_key=f"wxpay:{transaction_id}",
        occurred_at=paid_at,
        order_id=order_id,
        attempt_id=attempt_id,
        member_id=member_id,
        note=f"{out_trade_no} ({source})",
    ):  # only a hand-edited database gets here: the ledger stays the truth
        logger.error("ledger has wxpay:%s but attempt %s was not paid", transaction_id, attempt_id)
    moved = order_transition(
        order_id=order_id,
        from_status=OrderStatus.PENDING_PAYMENT,
        to_status=OrderStatus.PAID,
        actor=ORDER_PAID_ACTOR,
        note=_order_paid_note(transaction_id),
        paid_at=paid_at,
        out_trade_no=out_trade_no,
    )
    if moved:
        order = order_get_for_balance_spend(order_id=order_id)
        order_balance_spend_record(order=order, occurred_at=paid_at)
    return order_id, bool(moved)


def order_balance_spend_record(*, order: Order, occurred_at: datetime) -> None:
    """The stored value an order took at creation becomes spent when the order is paid: one
    balance_spend ledger row ("balance:spend:<order no>"), in the transaction that won
    pending → paid. (A cancelled order gives the balance back instead, see orders' lifecycle.)
    The fast statement writes the same row."""
    if order.balance_fen:
        ledger_record(
            kind=LedgerEntry.Kind.BALANCE_SPEND,
            direction=LedgerEntry.Direction.OUT,
            channel=LedgerEntry.Channel.BALANCE,
            amount_fen=order.balance_fen,
            external_key=f"{BALANCE_SPEND_KEY_PREFIX}{order.no}",
            occurred_at=occurred_at,
            order_id=order.pk,
            member_id=order.member_id,
            note=BALANCE_SPEND_NOTE,
        )
