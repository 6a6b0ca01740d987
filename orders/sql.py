"""The orders app's hand-written SQL (PostgreSQL), next to its models.

These statements run on every checkout preview, order or payment, where composing the ORM query
cost more than running it. Table and column names come from the models' _meta, values are
parameters, and the hot ones run as prepared statements (mall.db). orders' services and selectors
call these functions; another app composes orders' SQL only through them (payments' settle).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Field, Model

from mall.db import (
    column_values,
    execute_prepared,
    insert_statement,
    mark_saved,
    models_from_rows,
    row_values,
    select_list,
)
from members.sql import member_locked_balances_sql

from .models import (
    ALLOWED_TRANSITIONS,
    TIMESTAMP_FIELD,
    Address,
    FreightRule,
    FreightTemplate,
    Order,
    OrderLine,
    OrderStatus,
    OrderStatusLog,
    TransitionNotAllowed,
)


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _column(field_name: str) -> str:
    return _q(Order._meta.get_field(field_name).column)


# --- the order of an Idempotency-Key, read under the member's lock ---
@cache
def _member_lock_and_order_sql() -> str:
    # The member's row is locked by members' own statement, composed here as a CTE.
    return (
        f"WITH m AS ({member_locked_balances_sql()}) "  # noqa: S608
        "SELECT m.balance_fen, m.points_balance, o.id, o.no, o.request_hash "
        f"FROM m LEFT JOIN {_q(Order._meta.db_table)} o "
        "ON o.member_id = m.id AND o.client_token = %s"
    )


def member_lock_and_order_by_token(
    *, member_id: int, client_token: str
) -> tuple[int, int, int | None, str | None, str | None] | None:
    """Lock the member row and read, in the same statement, (balance_fen, points_balance, and the
    id, no and request_hash of the member's order of `client_token`, or Nones); None when there
    is no such member. The orders are read as they were before any wait for the lock."""
    with connection.cursor() as cursor:
        execute_prepared(cursor, _member_lock_and_order_sql(), [member_id, client_token])
        return cursor.fetchone()


@cache
def _order_by_token_sql() -> str:
    return (
        f"SELECT id, no, request_hash FROM {_q(Order._meta.db_table)} "  # noqa: S608
        "WHERE member_id = %s AND client_token = %s"
    )


def order_by_token(*, member_id: int, client_token: str) -> tuple[int, str, str] | None:
    """(id, no, request_hash) of the member's order of `client_token`, if any."""
    with connection.cursor() as cursor:
        cursor.execute(_order_by_token_sql(), [member_id, client_token])
        return cursor.fetchone()


# --- a new order ---
@cache
def _order_rows_sql() -> tuple[str, tuple[tuple[Field, ...], ...]]:
    """The statement of order_rows_insert and the fields of its three parts' values: the order's
    INSERT … ON CONFLICT DO NOTHING, and the lines' and log's INSERTs that take its id (so they
    insert nothing when it did not). Line ids come from the sequence in insertion order: sorted,
    they follow the lines."""
    order_sql, order_fields = insert_statement(Order, ignore_conflicts=True)

    def children(model: type[Model]) -> tuple[tuple[Field, ...], str]:
        fields = tuple(
            f for f in model._meta.concrete_fields if not f.primary_key and f.name != "order"
        )
        columns = ", ".join(["order_id", *(_q(f.column) for f in fields)])
        return fields, f"INSERT INTO {_q(model._meta.db_table)} ({columns})"

    line_fields, line_insert = children(OrderLine)
    log_fields, log_insert = children(OrderStatusLog)
    arrays = ", ".join(f"%s::{f.cast_db_type(connection)}[]" for f in line_fields)
    values = ", ".join(f"%s::{f.cast_db_type(connection)}" for f in log_fields)
    sql = (
        f"WITH o AS ({order_sql}), "  # noqa: S608 - our statements and model types
        f"line AS ({line_insert} SELECT o.id, u.* FROM o, unnest({arrays}) AS u RETURNING id), "
        f"log AS ({log_insert} SELECT o.id, {values} FROM o RETURNING id) "
        "SELECT o.id, (SELECT id FROM log), ARRAY(SELECT id FROM line ORDER BY id) FROM o"
    )
    return sql, (order_fields, line_fields, log_fields)


def order_rows_insert(order: Order, lines: list[OrderLine], log: OrderStatusLog) -> bool:
    """Insert the order, its lines and its first status log in one statement, unless the order
    breaks a unique constraint (then nothing is written and False is answered). Keys are set on
    all of them."""
    sql, (order_fields, line_fields, log_fields) = _order_rows_sql()
    params = [
        *row_values(order, order_fields),
        *column_values(lines, line_fields),
        *row_values(log, log_fields),
    ]
    with connection.cursor() as cursor:
        execute_prepared(cursor, sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    order_id, log_id, line_ids = row
    mark_saved(order, order_id)
    for child, child_id in ((log, log_id), *zip(lines, line_ids, strict=True)):
        child.order = order
        mark_saved(child, child_id)
    return True


# --- what checkout reads: the address, freight templates ---
@cache
def _address_sql() -> str:
    return (
        f"SELECT {select_list(Address, 'a')} FROM {_q(Address._meta.db_table)} a "  # noqa: S608
        "WHERE a.id = %s AND a.member_id = %s"
    )


def address_for_member(*, address_id: int | None, member_id: int) -> Address | None:
    """The member's address (the ORM's converters applied), or None."""
    with connection.cursor() as cursor:
        execute_prepared(cursor, _address_sql(), [address_id, member_id])
        row = cursor.fetchone()
    return None if row is None else models_from_rows(Address, [row])[0]


# The default template and those of the products, each with its rules (LEFT JOIN: a template
# without rules is one row of NULLs) and the products it covers.
@cache
def _freight_sql() -> str:
    template, rule = _q(FreightTemplate._meta.db_table), _q(FreightRule._meta.db_table)
    links = _q(FreightTemplate.products.through._meta.db_table)
    return f"""\
SELECT t.id, t.name, t.charge_by, t.free_over_fen, t.is_default,
       ARRAY(SELECT tp.product_id FROM {links} tp
             WHERE tp.freighttemplate_id = t.id AND tp.product_id = ANY(%(products)s)),
       r.id, r.regions::text, r.first_units, r.first_fee_fen, r.extra_units, r.extra_fee_fen
FROM {template} t LEFT JOIN {rule} r ON r.template_id = t.id
WHERE t.is_default
   OR t.id IN (SELECT freighttemplate_id FROM {links} WHERE product_id = ANY(%(products)s))
ORDER BY t.id, r.id
"""  # noqa: S608  (table names from the models; values are parameters)


def freight_rows(*, product_ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """(template id, name, charge_by, free_over_fen, is_default, [its products among these],
    rule id, regions as JSON text, first_units, first_fee_fen, extra_units, extra_fee_fen) by
    template id then rule id."""
    with connection.cursor() as cursor:
        execute_prepared(cursor, _freight_sql(), {"products": sorted(product_ids)})
        return cursor.fetchall()


# --- a payment's side of the order: pending → paid in another app's statement ---
def _status_literal(status: str) -> str:
    if status not in OrderStatus.values:  # only our own values are written into the text
        raise ValueError(f"not an order status: {status!r}")
    return f"'{status}'"


def order_pay_ctes(*, source: str, carry: Sequence[str] = (), returning: Sequence[str] = ()) -> str:
    """The order's part of a payment's one-statement settle (payments.sql): two data-modifying
    CTEs to put in its WITH list. `moved` moves the order of each row of `source` (a CTE or table
    with an `order_id` column) pending_payment → paid when it is still pending and has no
    promotion (a promotion's order is paid on the careful path, where its effects run), setting
    paid_at and out_trade_no; it returns the order's `id`, the order fields `returning` and the
    `carry` columns of `source`. `logged` writes the move's status log row. The pair is checked
    against ALLOWED_TRANSITIONS, as order_transition checks it. Parameters (order_pay_params):
    %(order_paid_at)s, %(order_out_trade_no)s, %(order_actor)s, %(order_note)s, %(order_now)s.
    """
    from_status, to_status = OrderStatus.PENDING_PAYMENT, OrderStatus.PAID
    if to_status not in ALLOWED_TRANSITIONS.get(from_status, frozenset()):
        raise TransitionNotAllowed(f"{from_status} → {to_status}")
    orders, logs = _q(Order._meta.db_table), _q(OrderStatusLog._meta.db_table)
    status, pk = _column("status"), _q(Order._meta.pk.column)
    returned = ", ".join(
        [f"o.{pk} AS id", *(f"o.{_column(name)}" for name in returning)]
        + [f"src.{_q(name)}" for name in carry]
    )
    log_columns = ", ".join(
        _q(OrderStatusLog._meta.get_field(name).column)
        for name in ("order", "from_status", "to_status", "actor", "note", "created_at")
    )
    return f"""moved AS (
    UPDATE {orders} o SET {status} = {_status_literal(to_status)},
        {_column(TIMESTAMP_FIELD[to_status])} = %(order_paid_at)s,
        {_column("out_trade_no")} = %(order_out_trade_no)s
    FROM {source} src
    WHERE o.{pk} = src.order_id AND o.{status} = {_status_literal(from_status)}
        AND o.{_column("promotion_kind")} = ''
    RETURNING {returned}
), logged AS (
    INSERT INTO {logs} ({log_columns})
    SELECT id, {_status_literal(from_status)}, {_status_literal(to_status)},
        %(order_actor)s::text, %(order_note)s::text, %(order_now)s::timestamptz
    FROM moved
    RETURNING id
)"""  # noqa: S608 - names from the models, statuses checked, values are parameters


def order_pay_params(
    *, paid_at: datetime, out_trade_no: str, actor: str, note: str, now: datetime
) -> dict[str, Any]:
    """The parameters of order_pay_ctes."""
    adapt = connection.ops.adapt_datetimefield_value
    return {
        "order_paid_at": adapt(paid_at),
        "order_out_trade_no": out_trade_no,
        "order_actor": actor,
        "order_note": note[:200],
        "order_now": adapt(now),
    }


# --- a paid order's effects in other apps: claimed once ---
PAID_EFFECTS_CLAIMED_FIELDS = ("member_id", "no", "payable_fen", "promotion_kind", "breakdown")


@cache
def _paid_effects_claim_sql() -> str:
    columns = ", ".join(_column(name) for name in PAID_EFFECTS_CLAIMED_FIELDS)
    claimed_at, paid_at = _column("paid_effects_at"), _column("paid_at")
    return (
        f"UPDATE {_q(Order._meta.db_table)} SET {claimed_at} = %s "  # noqa: S608 - our names
        f"WHERE {_q(Order._meta.pk.column)} = %s AND {paid_at} IS NOT NULL "
        f"AND {claimed_at} IS NULL RETURNING {columns}"
    )


def order_paid_effects_claim(*, order_id: int, now: datetime) -> dict[str, Any] | None:
    """Set the paid order's paid_effects_at unless it is set (one UPDATE … RETURNING, which also
    reads PAID_EFFECTS_CLAIMED_FIELDS); None when it is not paid or was claimed already."""
    with connection.cursor() as cursor:
        cursor.execute(
            _paid_effects_claim_sql(), [connection.ops.adapt_datetimefield_value(now), order_id]
        )
        row = cursor.fetchone()
    if row is None:
        return None
    claimed = dict(zip(PAID_EFFECTS_CLAIMED_FIELDS, row, strict=True))
    if isinstance(claimed["breakdown"], str | bytes):  # the drivers give JSON as text to Django
        field = Order._meta.get_field("breakdown")
        claimed["breakdown"] = field.from_db_value(claimed["breakdown"], None, connection)
    claimed["breakdown"] = claimed["breakdown"] or {}
    return claimed


def _table(model: type) -> str:
    return connection.ops.quote_name(model._meta.db_table)


# --- lifecycle journeys (read by shop.lifecycle.journeys) ---
@cache  # built once, after the app registry is ready
def _order_lines_replenish_due_sql() -> str:
    orders, lines = _table(Order), _table(OrderLine)
    # A rule matches a line by its product; of several, the lowest priority, then the lowest
    # rule id wins (DISTINCT ON keeps the first). The constant received_at bounds (from the
    # rules' shortest and longest cycles) let the planner cut the orders by received_at before
    # the per-rule window.
    return f"""
SELECT DISTINCT ON (l.id) l.id, o.member_id, r.id, l.product_id, l.title
FROM {lines} l
JOIN {orders} o ON o.id = l.order_id
JOIN unnest(%(rule_ids)s::bigint[], %(rule_products)s::bigint[], %(rule_cycles)s::int[],
            %(rule_priorities)s::int[]) AS r(id, product_id, cycle_days, priority)
  ON r.product_id = l.product_id
WHERE l.id > %(after)s
  AND o.status = ANY(%(received)s)
  AND o.received_at > %(oldest)s AND o.received_at <= %(newest)s
  AND o.received_at <= %(now)s - make_interval(days => r.cycle_days)
  AND o.received_at > %(now)s - make_interval(days => r.cycle_days + %(lookback)s)
  AND l.refunded_quantity < l.quantity
  AND NOT EXISTS (
      SELECT 1 FROM {orders} o2
      WHERE o2.member_id = o.member_id AND o2.status = ANY(%(paid)s) AND o2.paid_at > o.paid_at
        AND EXISTS (
            SELECT 1 FROM {lines} l2
            WHERE l2.order_id = o2.id AND l2.product_id = l.product_id))
ORDER BY l.id, r.priority, r.id
LIMIT %(limit)s"""  # noqa: S608 - table names from the models


def order_lines_replenish_due(
    *,
    rules: Sequence[tuple[int, int, int, int]],
    received_statuses: Sequence[str],
    paid_statuses: Sequence[str],
    now: datetime,
    lookback_days: int,
    oldest: datetime,
    newest: datetime,
    after_line_id: int,
    limit: int,
) -> list[tuple[int, int, int, int, str]]:
    """(line id, member id, rule id, product id, title) of the lines due for a replenish reminder
    under `rules` ((rule id, product id, cycle days, priority) each), after `after_line_id` in line
    id order: received between cycle_days and cycle_days + lookback_days ago, not all refunded,
    not bought again since by the member."""
    with connection.cursor() as cursor:
        cursor.execute(
            _order_lines_replenish_due_sql(),
            {
                "rule_ids": [rule[0] for rule in rules],
                "rule_products": [rule[1] for rule in rules],
                "rule_cycles": [rule[2] for rule in rules],
                "rule_priorities": [rule[3] for rule in rules],
                "received": list(received_statuses),
                "paid": list(paid_statuses),
                "now": now,
                "lookback": lookback_days,
                "oldest": oldest,
                "newest": newest,
                "after": after_line_id,
                "limit": limit,
            },
        )
        return cursor.fetchall()


@cache
def _orders_last_paid_before_sql() -> str:
    return f"""
WITH last AS (
    SELECT DISTINCT ON (o.member_id) o.member_id, o.id AS order_id, o.paid_at
    FROM {_table(Order)} o
    WHERE o.member_id > %(lo)s AND o.member_id <= %(hi)s
      AND o.status = ANY(%(paid)s) AND o.paid_at IS NOT NULL
    ORDER BY o.member_id, o.paid_at DESC, o.id DESC
)
SELECT member_id, order_id FROM last
WHERE paid_at < %(before)s
ORDER BY member_id"""  # noqa: S608 - table names from the models


def orders_last_paid_before(
    *,
    member_id_after: int,
    member_id_upto: int,
    paid_statuses: Sequence[str],
    before: datetime,
) -> list[tuple[int, int]]:
    """(member id, order id) of the members in (member_id_after, member_id_upto] whose last paid
    order was paid before `before`, with that order."""
    with connection.cursor() as cursor:
        cursor.execute(
            _orders_last_paid_before_sql(),
            {
                "lo": member_id_after,
                "hi": member_id_upto,
                "paid": list(paid_statuses),
                "before": before,
            },
        )
        return cursor.fetchall()


# --- recommendations ---
@cache
def _products_bought_together_sql() -> str:
    orders, lines = _table(Order), _table(OrderLine)
    # The member's products (score NULL), then the others' scores.
    return f"""
WITH mine AS (
    SELECT DISTINCT l.product_id
    FROM {orders} o JOIN {lines} l ON l.order_id = o.id
    WHERE o.member_id = %(member)s AND o.status = ANY(%(paid)s)
), together AS (
    SELECT l2.product_id, count(DISTINCT o1.member_id) AS score
    FROM {lines} l1
    JOIN {orders} o1 ON o1.id = l1.order_id
    JOIN {lines} l2 ON l2.order_id = l1.order_id AND l2.product_id <> l1.product_id
    WHERE l1.product_id IN (SELECT product_id FROM mine)
      AND l2.product_id NOT IN (SELECT product_id FROM mine)
      AND o1.member_id <> %(member)s AND o1.status = ANY(%(paid)s)
    GROUP BY l2.product_id
)
SELECT product_id, NULL::bigint FROM mine
UNION ALL
SELECT product_id, score FROM together"""  # noqa: S608 - table names from the models


def products_bought_together(
    *, member_id: int, paid_statuses: Sequence[str]
) -> tuple[list[int], dict[int, int]]:
    """(the products the member bought in paid orders, {other product: how many other members
    bought it in one paid order with one of those})."""
    with connection.cursor() as cursor:
        cursor.execute(
            _products_bought_together_sql(), {"member": member_id, "paid": list(paid_statuses)}
        )
        rows = cursor.fetchall()
    mine = [product_id for product_id, score in rows if score is None]
    return mine, {product_id: score for product_id, score in rows if score is not None}
