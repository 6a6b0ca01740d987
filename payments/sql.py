"""The payments app's hand-written SQL (PostgreSQL), next to its models.

Table and column names come from the models' _meta, values are parameters. The order's part of
the settle statement is orders' (orders.sql.order_pay_ctes): payments composes it, never writes
orders' tables itself.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection
from django.utils import timezone

from mall.db import execute_hot
from orders.sql import order_pay_ctes, order_pay_params

from .models import LedgerEntry, PaymentAttempt

_LEDGER_COLUMNS = (
    "kind",
    "direction",
    "channel",
    "amount_fen",
    "external_key",
    "order_id",
    "attempt_id",
    "refund_id",
    "member_id",
    "note",
    "occurred_at",
    "created_at",
)


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


@cache
def _ledger_insert_sql() -> str:
    columns = ", ".join(_q(c) for c in _LEDGER_COLUMNS)
    placeholders = ", ".join(["%s"] * len(_LEDGER_COLUMNS))
    return (
        f"INSERT INTO {_q(LedgerEntry._meta.db_table)} ({columns}) "  # noqa: S608 - our names
        f"VALUES ({placeholders}) ON CONFLICT (external_key) DO NOTHING RETURNING id"
    )


def ledger_insert(
    *,
    kind: str,
    direction: str,
    channel: str,
    amount_fen: int,
    external_key: str,
    occurred_at: datetime,
    order_id: int | None,
    attempt_id: int | None,
    refund_id: int | None,
    member_id: int | None,
    note: str,
) -> bool:
    """One `INSERT … ON CONFLICT (external_key) DO NOTHING RETURNING`: whether the row was
    written (no savepoint; the unique index judges even when two callers race)."""
    adapt = connection.ops.adapt_datetimefield_value
    values = [
        kind,
        direction,
        channel,
        amount_fen,
        external_key,
        order_id,
        attempt_id,
        refund_id,
        member_id,
        note,
        adapt(occurred_at),
        adapt(timezone.now()),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_ledger_insert_sql(), values)
        return cursor.fetchone() is not None


@cache  # built once, after the app registry is ready
def order_attempt_paid_fast_sql() -> str:
    """The statement of order_attempt_paid_fast_run: the unpaid attempt of this trade and amount,
    the order's move (orders' CTEs `moved` and `logged`), the attempt paid, the ledger rows
    (the payment, and the order's stored value as spent); then the order id when it moved, the
    attempt as it was, and how many payment rows the ledger took beyond the balance row."""
    attempts = _q(PaymentAttempt._meta.db_table)
    ledger = _q(LedgerEntry._meta.db_table)
    order_ctes = order_pay_ctes(
        source="attempt", carry=("attempt_id",), returning=("no", "member_id", "balance_fen")
    )
    return f"""
WITH attempt AS (
    SELECT pa.id AS attempt_id, pa.order_id FROM {attempts} pa
    WHERE pa.out_trade_no = %(out_trade_no)s AND pa.status <> %(attempt_paid)s
        AND pa.amount_fen = %(amount_fen)s
), {order_ctes}, paid_attempt AS (
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
)
SELECT (SELECT id FROM moved), a.status, a.transaction_id,
    (SELECT count(*) FROM ledger) - (SELECT count(*) FROM moved WHERE balance_fen > 0)
FROM (SELECT 1) one LEFT JOIN {attempts} a ON a.out_trade_no = %(out_trade_no)s
"""  # noqa: S608 - table names are ours, values are parameters


def order_attempt_paid_fast_run(
    *,
    out_trade_no: str,
    transaction_id: str,
    amount_fen: int,
    paid_at: datetime,
    payment_note: str,
    order_note: str,
    order_actor: str,
    balance_key_prefix: str,
    balance_note: str,
) -> tuple[int | None, str | None, str | None, int]:
    """Run order_attempt_paid_fast_sql as a prepared statement (payments.services.settle):
    (order id or None, the attempt's status and transaction id as they were, payment rows
    written)."""
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    params = {
        "attempt_paid": PaymentAttempt.Status.PAID.value,
        "transaction_id": transaction_id,
        "paid_at": adapt(paid_at),
        "kind": LedgerEntry.Kind.WECHAT_PAYMENT.value,
        "direction": LedgerEntry.Direction.IN.value,
        "channel": LedgerEntry.Channel.WECHAT.value,
        "amount_fen": amount_fen,
        "external_key": f"wxpay:{transaction_id}",
        "ledger_note": payment_note[:200],
        "balance_kind": LedgerEntry.Kind.BALANCE_SPEND.value,
        "balance_direction": LedgerEntry.Direction.OUT.value,
        "balance_channel": LedgerEntry.Channel.BALANCE.value,
        "balance_key_prefix": balance_key_prefix,
        "balance_note": balance_note,
        "now": adapt(now),
        "out_trade_no": out_trade_no,
    } | order_pay_params(
        paid_at=paid_at, out_trade_no=out_trade_no, actor=order_actor, note=order_note, now=now
    )
    row: Any = execute_hot(order_attempt_paid_fast_sql(), params)
    return row
