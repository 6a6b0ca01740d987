"""The marketing app's hand-written SQL, on its own tables only (names from the models' _meta),
parameterised. Services and selectors call these functions; nothing else runs SQL here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Model

from mall.db import execute_prepared, models_from_rows, select_list

from .models import Coupon, CouponSpendRule, JourneySend


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _column(model: type[Model], field: str) -> str:
    return _quote(model._meta.get_field(field).column)


# --- journeys ---
@cache  # built once, after the app registry is ready
def _journey_sends_insert_sql() -> str:
    columns = ", ".join(
        _column(JourneySend, name)
        for name in (
            "kind",
            "member",
            "rule",
            "order_line_id",
            "period_key",
            "message_sent",
            "sent_at",
        )
    )
    returning = ", ".join(
        _column(JourneySend, name) for name in ("id", "member", "order_line_id", "period_key")
    )
    return f"""INSERT INTO {_quote(JourneySend._meta.db_table)} ({columns})
SELECT %(kind)s, m, r, l, k, false, %(now)s
FROM unnest(%(members)s::bigint[], %(rules)s::bigint[], %(lines)s::bigint[], %(keys)s::text[])
     AS t(m, r, l, k)
ON CONFLICT DO NOTHING
RETURNING {returning}"""  # noqa: S608 - names from the model


def journey_sends_insert(
    *,
    kind: str,
    member_ids: Sequence[int],
    rule_ids: Sequence[int | None],
    order_line_ids: Sequence[int | None],
    period_keys: Sequence[str],
    now: datetime,
) -> list[tuple[int, int, int | None, str]]:
    """Insert one send per position of the (equally long) lists in one statement; a row whose
    unique key (per order line, or per member and period) exists already is skipped. Returns
    (send id, member id, order line id, period key) of the rows inserted."""
    with connection.cursor() as cursor:
        cursor.execute(
            _journey_sends_insert_sql(),
            {
                "kind": kind,
                "now": now,
                "members": list(member_ids),
                "rules": list(rule_ids),
                "lines": list(order_line_ids),
                "keys": list(period_keys),
            },
        )
        return cursor.fetchall()


@cache
def _journey_sends_coupons_set_sql() -> str:
    table = _quote(JourneySend._meta.db_table)
    coupon, pk = _column(JourneySend, "coupon"), _column(JourneySend, "id")
    return (
        f"UPDATE {table} s SET {coupon} = t.c "  # noqa: S608 - names from the model
        f"FROM unnest(%s::bigint[], %s::bigint[]) AS t(s, c) WHERE s.{pk} = t.s"
    )


def journey_sends_coupons_set(*, send_ids: Sequence[int], coupon_ids: Sequence[int]) -> None:
    """Set each send's coupon (send_ids[i] gets coupon_ids[i]) in one statement."""
    with connection.cursor() as cursor:
        cursor.execute(_journey_sends_coupons_set_sql(), [list(send_ids), list(coupon_ids)])


# --- coupons ---
@cache
def _spend_rule_templates_sql() -> str:
    through = CouponSpendRule.templates.through
    rules, links = _quote(CouponSpendRule._meta.db_table), _quote(through._meta.db_table)
    return f"""SELECT DISTINCT t.coupontemplate_id FROM {links} t
JOIN {rules} r ON r.id = t.couponspendrule_id
WHERE r.is_active AND r.min_paid_fen <= %(paid_fen)s
    AND (r.starts_at IS NULL OR r.starts_at <= %(now)s) AND (r.ends_at IS NULL OR r.ends_at > %(now)s)
ORDER BY t.coupontemplate_id"""  # noqa: S608 - table names are ours


def spend_rule_template_ids(*, paid_fen: int, now: datetime) -> list[int]:
    """The templates of the active 消费返券 rules `paid_fen` reaches at `now` (distinct, in id
    order). Every payment asks: plain SQL, no ORM query building."""
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(_spend_rule_templates_sql(), {"paid_fen": paid_fen, "now": adapt(now)})
        return [row[0] for row in cursor.fetchall()]


@cache
def _coupons_usable_sql() -> str:
    return (
        f"SELECT {select_list(Coupon, 'c')} FROM {_quote(Coupon._meta.db_table)} c "  # noqa: S608
        "WHERE c.member_id = %s AND c.status = %s AND c.valid_from <= %s AND c.valid_until > %s "
        "ORDER BY c.valid_until, c.id"
    )


def coupons_usable_fetch(*, member_id: int, status: str, now: datetime) -> list[Any]:
    """The member's coupons of `status` valid at `now` (template not loaded), soonest to expire
    first. Every checkout asks and most members hold none: a prepared statement, as the ORM's
    query building cost more than running it."""
    at = connection.ops.adapt_datetimefield_value(now)  # as the ORM adapts it
    with connection.cursor() as cursor:
        execute_prepared(cursor, _coupons_usable_sql(), [member_id, status, at, at])
        return models_from_rows(Coupon, cursor.fetchall())
