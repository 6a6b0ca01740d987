"""The hot write of a WeChat payment notification, as one SQL statement.

Settling a new payment of an order is four writes: the attempt paid, the ledger row
"wxpay:<transaction_id>", the order pending_payment → paid (conditional) and its status log row.
They go to PostgreSQL as one statement of data-modifying CTEs: one round trip instead of five
(the attempt's locking read included), and still ordinary writes in the settlement's transaction
(the commit stays durable: WeChat gets SUCCESS only for a payment that is on disk). The rules
are those of `ledger_record` (ON CONFLICT on the external key: a replay inserts nothing) and of
orders' `order_transition` (the UPDATE only matches while the order is pending; only the
winner writes its log row). The attempt's UPDATE is conditional (not paid, the amount WeChat
reports, an order's attempt): it takes the row lock the rest of the settlement relies on, and
when it matches nothing the caller takes the careful path (lock, read, decide).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from django.db import connection
from django.utils import timezone

from orders.models import Order, OrderStatus, OrderStatusLog
from orders.services import ALLOWED_TRANSITIONS

from ..models import LedgerEntry, PaymentAttempt
from .ledger import ledger_record

if OrderStatus.PAID not in ALLOWED_TRANSITIONS[OrderStatus.PENDING_PAYMENT]:
    raise RuntimeError("the order state machine no longer allows pending_payment → paid")


@dataclass(frozen=True)
class AttemptPaid:
    attempt_id: int
    order_id: int
    is_recorded: bool  # the ledger row was inserted now
    order: Order | None  # the order moved pending → paid (no, member_id, balance_fen), or None


@cache  # built once, after the app registry is ready
def _sql() -> str:
    q = connection.ops.quote_name
    attempts = q(PaymentAttempt._meta.db_table)
    ledger = q(LedgerEntry._meta.db_table)
    orders = q(Order._meta.db_table)
    logs = q(OrderStatusLog._meta.db_table)
    return f"""
WITH paid_attempt AS (
    UPDATE {attempts} SET status = %(attempt_paid)s, transaction_id = %(transaction_id)s,
        paid_at = %(paid_at)s, last_error = ''
    WHERE out_trade_no = %(out_trade_no)s AND status <> %(attempt_paid)s
        AND amount_fen = %(amount_fen)s AND order_id IS NOT NULL
    RETURNING id, order_id
), ledger AS (
    INSERT INTO {ledger} (kind, direction, channel, amount_fen, external_key, order_id,
        attempt_id, refund_id, member_id, note, occurred_at, created_at)
    SELECT %(kind)s, %(direction)s, %(channel)s, %(amount_fen)s, %(external_key)s,
        o.id, pa.id, NULL, o.member_id, %(ledger_note)s, %(paid_at)s, %(now)s
    FROM paid_attempt pa JOIN {orders} o ON o.id = pa.order_id
    ON CONFLICT (external_key) DO NOTHING
    RETURNING id
), moved AS (
    UPDATE {orders} o SET status = %(paid)s, paid_at = %(paid_at)s,
        out_trade_no = %(out_trade_no)s
    FROM paid_attempt pa
    WHERE o.id = pa.order_id AND o.status = %(pending)s
    RETURNING o.id, o.no, o.member_id, o.balance_fen
), logged AS (
    INSERT INTO {logs} (order_id, from_status, to_status, actor, note, created_at)
    SELECT id, %(pending)s, %(paid)s, 'wechat', %(log_note)s, %(now)s FROM moved
    RETURNING id
)
SELECT pa.id, pa.order_id, (SELECT count(*) FROM ledger), m.id, m.no, m.member_id,
    m.balance_fen, (SELECT count(*) FROM logged)
FROM paid_attempt pa LEFT JOIN moved m ON true
"""  # noqa: S608 - table names are ours, values are parameters


def order_attempt_paid_statement(
    *, out_trade_no: str, transaction_id: str, amount_fen: int, paid_at: datetime, source: str
) -> AttemptPaid | None:
    """In the caller's transaction: pay the order's attempt `out_trade_no` if it is not paid
    and its amount is `amount_fen`, record the ledger row, move the order pending → paid and
    log it. None when no attempt matched (unknown, another amount, paid already, a top-up's):
    nothing was written."""
    if connection.vendor != "postgresql":  # data-modifying CTEs are PostgreSQL's
        return _order_attempt_paid_portable(
            out_trade_no=out_trade_no,
            transaction_id=transaction_id,
            amount_fen=amount_fen,
            paid_at=paid_at,
            source=source,
        )
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
        "now": adapt(timezone.now()),
        "out_trade_no": out_trade_no,
        "log_note": f"微信支付 {transaction_id}"[:200],
    }
    with connection.cursor() as cursor:
        cursor.execute(_sql(), params)
        row = cursor.fetchone()
    if row is None:
        return None
    attempt_id, order_id, inserted, moved_id, no, member_id, balance_fen, _ = row
    order = (
        Order(pk=moved_id, no=no, member_id=member_id, balance_fen=balance_fen)
        if moved_id is not None
        else None
    )
    return AttemptPaid(
        attempt_id=attempt_id, order_id=order_id, is_recorded=bool(inserted), order=order
    )


def _order_attempt_paid_portable(
    *, out_trade_no: str, transaction_id: str, amount_fen: int, paid_at: datetime, source: str
) -> AttemptPaid | None:
    """The statement's four writes one by one through the ORM (the embedded mode's SQLite),
    with the same conditions: the attempt's UPDATE and the order's are conditional, the ledger
    row is unique by its external key."""
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
    inserted = ledger_record(
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
    )
    moved = Order.objects.filter(pk=order_id, status=OrderStatus.PENDING_PAYMENT).update(
        status=OrderStatus.PAID, paid_at=paid_at, out_trade_no=out_trade_no
    )
    order = None
    if moved:
        OrderStatusLog.objects.create(
            order_id=order_id,
            from_status=OrderStatus.PENDING_PAYMENT,
            to_status=OrderStatus.PAID,
            actor="wechat",
            note=f"微信支付 {transaction_id}"[:200],
        )
        order = Order.objects.only("no", "member_id", "balance_fen").get(pk=order_id)
    return AttemptPaid(attempt_id=attempt_id, order_id=order_id, is_recorded=inserted, order=order)
