"""The members app's hand-written SQL (PostgreSQL), parameterised, table and column names from
the models' _meta. Services and selectors call these functions; nothing else runs SQL here."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection

from mall.db import execute_prepared, models_from_rows, select_list

from .models import (
    GrowthLog,
    Member,
    MemberLevel,
    MemberTag,
    MemberToken,
    PointsLot,
    SubscribeMessage,
    Tag,
    TaskCard,
    TaskCompletion,
)


def _table(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


# --- the shopper's token (every shopper request: prepared statements) ---
_TOKEN_MEMBER = (
    f"FROM {Member._meta.db_table} m "
    f"JOIN {MemberToken._meta.db_table} t ON t.member_id = m.id "
    "WHERE t.key_hash = %s AND t.expires_at > %s AND m.is_active"
)
_MEMBER_ID_FOR_TOKEN = f"SELECT m.id {_TOKEN_MEMBER}"
_MEMBER_FOR_TOKEN = f"SELECT {select_list(Member, 'm')} {_TOKEN_MEMBER} LIMIT 1"


def member_id_for_token_hash(*, key_hash: str, now: datetime) -> int | None:
    """The id of the active member whose token of this hash is live at `now`."""
    with connection.cursor() as cursor:
        execute_prepared(cursor, _MEMBER_ID_FOR_TOKEN, [key_hash, now])
        row = cursor.fetchone()
    return row[0] if row else None


def member_for_token_hash(*, key_hash: str, now: datetime) -> Member | None:
    """The active member whose token of this hash is live at `now` (the ORM's converters apply)."""
    with connection.cursor() as cursor:
        execute_prepared(cursor, _MEMBER_FOR_TOKEN, [key_hash, now])
        row = cursor.fetchone()
    return models_from_rows(Member, [row])[0] if row else None


# --- subscribe messages recorded in bulk ---
@cache
def _messages_insert_sql() -> str:
    return f"""INSERT INTO {_table(SubscribeMessage)}
    (member_id, template_key, page, data, dedup_key, status, attempts, last_error, created_at)
SELECT m, t, p, d::jsonb, k, %s, 0, '', %s
FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[]) AS x(m, t, p, d, k)
ON CONFLICT (dedup_key) DO NOTHING
RETURNING id"""  # noqa: S608 - names from the models


def subscribe_messages_insert(*, messages: Sequence[dict[str, Any]], now: datetime) -> list[int]:
    """Pending messages (dicts of member_id, template_key, data, page, dedup_key) in one
    statement; a dedup_key recorded before is skipped. Returns the ids recorded."""
    with connection.cursor() as cursor:
        cursor.execute(
            _messages_insert_sql(),
            [
                SubscribeMessage.Status.PENDING.value,
                now,
                [m["member_id"] for m in messages],
                [m["template_key"] for m in messages],
                [m.get("page", "") for m in messages],
                [json.dumps(m["data"], ensure_ascii=False) for m in messages],
                [m.get("dedup_key") for m in messages],
            ],
        )
        return [row[0] for row in cursor.fetchall()]


# --- the member side of an order's payment (the payment notification's hot path) ---
@dataclass(frozen=True)
class _PaidSql:
    state: str
    lot: str
    grow: str
    grow_to_level: str
    log: str


@cache  # built once per process, after the app registry is ready
def _paid_sql() -> _PaidSql:
    members, levels = _table(Member), _table(MemberLevel)
    tasks, done = _table(TaskCard), _table(TaskCompletion)
    lots, logs = _table(PointsLot), _table(GrowthLog)
    grow = f"""UPDATE {members} SET growth = growth + %(growth)s{{level}} WHERE id = %(member_id)s
    AND NOT EXISTS (SELECT 1 FROM {logs} g WHERE g.kind = %(kind)s AND g.reference = %(reference)s)"""  # noqa: S608
    return _PaidSql(
        state=f"""SELECT m.growth, m.level_id, COALESCE(l.points_multiplier_bp, 10000),
    (SELECT t.id FROM {levels} t WHERE t.growth_threshold <= m.growth + %(growth)s
        ORDER BY t.growth_threshold DESC LIMIT 1),
    EXISTS (SELECT 1 FROM {tasks} c WHERE c.code = %(task)s AND c.is_active
        AND NOT EXISTS (SELECT 1 FROM {done} d WHERE d.task_id = c.id AND d.member_id = m.id))
FROM {members} m LEFT JOIN {levels} l ON l.id = m.level_id
WHERE m.id = %(member_id)s FOR UPDATE OF m""",  # noqa: S608 - names from the models
        lot=f"""INSERT INTO {lots} (member_id, source_key, order_no, status, points, remaining,
    basis_fen, refunded_fen, reversed_points, earned_at, vests_at, expires_at,
    expiry_notified_at, expired_at)
VALUES (%(member_id)s, %(reference)s, %(order_no)s, %(status)s, %(points)s, %(points)s,
    %(paid_fen)s, 0, 0, %(now)s, NULL, %(expires_at)s, NULL, NULL)
ON CONFLICT (source_key) DO NOTHING""",  # noqa: S608
        grow=grow.format(level=""),
        grow_to_level=grow.format(level=", level_id = %(level_id)s"),
        log=f"""INSERT INTO {logs} (member_id, kind, reference, order_no, amount_fen, growth,
    growth_after, created_at)
VALUES (%(member_id)s, %(kind)s, %(reference)s, %(order_no)s, %(paid_fen)s, %(growth)s,
    %(growth_after)s, %(now)s)""",  # noqa: S608
    )


@dataclass(frozen=True)
class MemberPaidState:
    growth: int
    level_id: int | None
    points_multiplier_bp: int
    level_id_after: int | None  # the level that growth + the payment's growth reaches
    task_due: bool  # the active task `task` is not yet done by the member


def member_paid_state_lock(*, member_id: int, growth: int, task: str) -> MemberPaidState:
    """Lock the member's row and read in the same statement what a payment changes."""
    params = {"member_id": member_id, "growth": growth, "task": task}
    with connection.cursor() as cursor:
        cursor.execute(_paid_sql().state, params)
        return MemberPaidState(*cursor.fetchone())


def points_lot_pending_insert(
    *,
    member_id: int,
    source_key: str,
    order_no: str,
    points: int,
    paid_fen: int,
    now: datetime,
    expires_at: datetime,
) -> None:
    """An order's pending points lot; nothing when the source_key has one already."""
    params = {
        "member_id": member_id,
        "reference": source_key,
        "order_no": order_no,
        "status": PointsLot.Status.PENDING.value,
        "points": points,
        "paid_fen": paid_fen,
        "now": now,
        "expires_at": expires_at,
    }
    with connection.cursor() as cursor:
        cursor.execute(_paid_sql().lot, params)


def member_growth_add_once(
    *,
    member_id: int,
    growth: int,
    growth_after: int,
    level_id: int | None,
    set_level: bool,
    kind: str,
    reference: str,
    order_no: str,
    amount_fen: int,
    now: datetime,
) -> bool:
    """Add growth (and set the level when set_level) unless a growth log of (kind, reference)
    exists, then write that log. Returns whether this call did."""
    sql = _paid_sql()
    params = {
        "member_id": member_id,
        "growth": growth,
        "growth_after": growth_after,
        "level_id": level_id,
        "kind": kind,
        "reference": reference,
        "order_no": order_no,
        "paid_fen": amount_fen,
        "now": now,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql.grow_to_level if set_level else sql.grow, params)
        if cursor.rowcount != 1:
            return False
        cursor.execute(sql.log, params)
    return True


# --- automatic tags ---
@cache
def _tags_auto_apply_sql() -> str:
    members, tags, member_tags = _table(Member), _table(Tag), _table(MemberTag)
    return f"""
WITH stats AS (
    SELECT m.id AS member_id, m.created_at, s.last_paid_at, coalesce(s.spend_fen, 0) AS spend_fen
    FROM {members} m
    LEFT JOIN unnest(%(stat_member_ids)s::bigint[], %(stat_last_paid_at)s::timestamptz[],
                     %(stat_spend_fen)s::bigint[]) AS s(member_id, last_paid_at, spend_fen)
           ON s.member_id = m.id
    WHERE m.id > %(lo)s AND m.id <= %(hi)s
), wanted AS (
    SELECT s.member_id, t.id AS tag_id
    FROM stats s JOIN {tags} t ON t.kind = %(auto)s AND (
           (t.code = 'new' AND s.created_at >= %(new_since)s)
        OR (t.code = 'active_30d' AND s.last_paid_at >= %(active_since)s)
        OR (t.code = 'dormant_90d' AND s.last_paid_at < %(dormant_before)s)
        OR (t.code = 'high_value' AND s.spend_fen >= %(high_value_fen)s))
), removed AS (
    DELETE FROM {member_tags} mt
    USING {tags} t
    WHERE mt.tag_id = t.id AND t.kind = %(auto)s
      AND mt.member_id > %(lo)s AND mt.member_id <= %(hi)s
      AND NOT EXISTS (
          SELECT 1 FROM wanted w WHERE w.member_id = mt.member_id AND w.tag_id = mt.tag_id)
    RETURNING 1
), added AS (
    INSERT INTO {member_tags} (member_id, tag_id, source, created_at)
    SELECT member_id, tag_id, %(auto_source)s, %(now)s FROM wanted
    ON CONFLICT (member_id, tag_id) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM added), (SELECT count(*) FROM removed)
"""  # noqa: S608 - names from the models


def member_tags_auto_apply(
    *,
    lo: int,
    hi: int,
    stat_member_ids: Sequence[int],
    stat_last_paid_at: Sequence[datetime | None],
    stat_spend_fen: Sequence[int],
    new_since: datetime,
    active_since: datetime,
    dormant_before: datetime,
    high_value_fen: int,
    now: datetime,
) -> tuple[int, int]:
    """The automatic tags of the members with lo < id ≤ hi, set to what their purchase stats
    (parallel arrays; members without a row bought nothing) call for, in one statement.
    Returns (added, removed)."""
    params = {
        "lo": lo,
        "hi": hi,
        "stat_member_ids": list(stat_member_ids),
        "stat_last_paid_at": list(stat_last_paid_at),
        "stat_spend_fen": list(stat_spend_fen),
        "new_since": new_since,
        "active_since": active_since,
        "dormant_before": dormant_before,
        "high_value_fen": high_value_fen,
        "now": now,
        "auto": Tag.Kind.AUTO.value,
        "auto_source": MemberTag.Source.AUTO.value,
    }
    with connection.cursor() as cursor:
        cursor.execute(_tags_auto_apply_sql(), params)
        added, removed = cursor.fetchone()
    return added, removed


# --- the member's row lock: serialises one member's cart, address, points and order writes ---
@cache
def member_locked_balances_sql() -> str:
    """`SELECT id, balance_fen, points_balance … FOR UPDATE` of the member %s: members' statement
    that orders' order creation composes (as a CTE) with its Idempotency-Key lookup."""
    return f"SELECT id, balance_fen, points_balance FROM {_table(Member)} WHERE id = %s FOR UPDATE"  # noqa: S608


def member_lock(*, member_id: int) -> bool:
    """Lock the member's row in the caller's transaction; False when there is no such member."""
    with connection.cursor() as cursor:
        cursor.execute(member_locked_balances_sql(), [member_id])
        return cursor.fetchone() is not None
