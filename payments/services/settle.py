"""The hot write of a WeChat payment notification, as one SQL statement.

A new payment of an ordinary order (no promotion) is five writes: the order pending → paid
(conditional), its status log row, the attempt paid, the ledger row "wxpay:<transaction_id>" and,
when the order took stored value, its "balance:spend:<no>" row. They go to PostgreSQL as one
statement of data-modifying CTEs, run in autocommit: one round trip, atomic and durable on its
own (WeChat gets SUCCESS only for a payment that is on disk), and prepared once per connection
(mall.db.execute_hot). The order's UPDATE decides: nothing
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
from functools import cache

from django.db import connection
from django.utils import timezone

from mall.db import execute_hot
from orders.models import Order, OrderStatus, OrderStatusLog
from orders.services import ALLOWED_TRANSITIONS

from ..models import LedgerEntry, PaymentAttempt
from .ledger import ledger_record

logger = logging.getLogger(__name__)

if OrderStatus.PAID not in ALLOWED_TRANSITIONS[OrderStatus.PENDING_PAYMENT]:
    raise RuntimeError("the order state machine no longer allows pending_payment → paid")

BALANCE_SPEND_KEY_PREFIX = "balance:spend:"
BALANCE_SPEND_NOTE = "余额支付"


@dataclass(frozen=True)
class FastSettle:
    """What the statement did (order_id set: it paid the order) or, when it wrote nothing, the
    attempt as it was (status and transaction id; empty when there is no such attempt)."""

    order_id: int | None
    status: str
    transaction_id: str


@cache  # built once, after the app registry is ready
def _sql() -> str:
    q = connection.ops.quote_name
    attempts = q(PaymentAttempt._meta.db_table)
    ledger = q(LedgerEntry._meta.db_table)
    orders = q(Order._meta.db_table)
    logs = q(OrderStatusLog._meta.db_table)
    return f"""
WITH moved AS (
    UPDATE {orders} o SET status = %(paid)s, paid_at = %(paid_at)s,
        out_trade_no = %(out_trade_no)s
    FROM {attempts} pa
    WHERE pa.out_trade_no = %(out_trade_no)s AND pa.status <> %(attempt_paid)s
        AND pa.amount_fen = %(amount_fen)s AND o.id = pa.order_id
        AND o.status = %(pending)s AND o.promotion_kind = ''
    RETURNING o.id, o.no, o.member_id, o.balance_fen, pa.id AS attempt_id
), paid_attempt AS (
    UPDATE {attempts} SET status = %(attempt_paid)s, transaction_id = %(transaction_id)s,
        paid_at = %(paid_at)s, last_error = ''
    FROM moved WHERE {attempts}.id = moved.attempt_id
    RETURNING {attempts}.id
), ledger AS (
    INSERT INTO {ledger} (kind, direction, channel, amount_fen, external_key, order_id,
        attempt_id, refund_id, member_id, note, occurred_at, created_at)
    SELECT %(kind)s::text, %(direction)s::text, %(channel)s::text, %(amount_fen)s::bigint,
        %(external_key)s::text, m.id, m.attempt_id, NULL::bigint, m.member_id,
        %(ledger_note)s::text, %(paid_at)s::timestamptz, %(now)s::timestamptz
    FROM moved m
    UNION ALL
    SELECT %(balance_kind)s::text, %(balance_direction)s::text, %(balance_channel)s::text,
        m.balance_fen, %(balance_key_prefix)s::text || m.no, m.id, NULL, NULL, m.member_id,
        %(balance_note)s::text, %(paid_at)s::timestamptz, %(now)s::timestamptz
    FROM moved m WHERE m.balance_fen > 0
    ON CONFLICT (external_key) DO NOTHING
    RETURNING id
), logged AS (
    INSERT INTO {logs} (order_id, from_status, to_status, actor, note, created_at)
    SELECT id, %(pending)s, %(paid)s, 'wechat', %(log_note)s::text, %(now)s::timestamptz
    FROM moved
    RETURNING id
)
SELECT (SELECT id FROM moved), a.status, a.transaction_id,
    (SELECT count(*) FROM ledger) - (SELECT count(*) FROM moved WHERE balance_fen > 0)
FROM (SELECT 1) one LEFT JOIN {attempts} a ON a.out_trade_no = %(out_trade_no)s
"""  # noqa: S608 - table names are ours, values are parameters


def order_attempt_paid_fast(
    *, out_trade_no: str, transaction_id: str, amount_fen: int, paid_at: datetime, source: str
) -> FastSettle:
    """Pay an ordinary order's pending attempt `out_trade_no` of `amount_fen` in one statement
    (see the module): PostgreSQL only, in autocommit or the caller's transaction."""
    adapt = connection.ops.adapt_datetimefield_value
    params = {
        "attempt_paid": PaymentAttempt.Status.PAID.value,
        "paid": OrderStatus.PAID.value,
        "pending": OrderStatus.PENDING_PAYMENT.value,
        "transaction_id": transaction_id,
        "paid_at": adapt(paid_at),
        "kind": LedgerEntry.Kind.WECHAT_PAYMENT.value,
        "direction": LedgerEntry.Direction.IN.value,
        "channel": LedgerEntry.Channel.WECHAT.value,
        "amount_fen": amount_fen,
        "external_key": f"wxpay:{transaction_id}",
        "ledger_note": f"{out_trade_no} ({source})"[:200],
        "balance_kind": LedgerEntry.Kind.BALANCE_SPEND.value,
        "balance_direction": LedgerEntry.Direction.OUT.value,
        "balance_channel": LedgerEntry.Channel.BALANCE.value,
        "balance_key_prefix": BALANCE_SPEND_KEY_PREFIX,
        "balance_note": BALANCE_SPEND_NOTE,
        "now": adapt(timezone.now()),
        "out_trade_no": out_trade_no,
        "log_note": f"微信支付 {transaction_id}"[:200],
    }
    order_id, status, previous_transaction_id, payments_recorded = execute_hot(_sql(), params)
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
    member_id = Order.objects.values_list("member_id", flat=True).get(pk=order_id)
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
    moved = Order.objects.filter(pk=order_id, status=OrderStatus.PENDING_PAYMENT).update(
        status=OrderStatus.PAID, paid_at=paid_at, out_trade_no=out_trade_no
    )
    if moved:
        OrderStatusLog.objects.create(
            order_id=order_id,
            from_status=OrderStatus.PENDING_PAYMENT,
            to_status=OrderStatus.PAID,
            actor="wechat",
            note=f"微信支付 {transaction_id}"[:200],
        )
        order = Order.objects.only("no", "member_id", "balance_fen").get(pk=order_id)
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
