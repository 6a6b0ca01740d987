"""Levels (会员等级) and growth (成长值): 1 growth per whole yuan paid, taken back by refunds;
the level follows the growth up and down, each change logged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from .models import GrowthLog, LevelChangeLog, Member, MemberLevel

G = GrowthLog.Kind


def growth_for_fen(amount_fen: int) -> int:
    return max(amount_fen, 0) // 100


def member_level_for_growth(*, growth: int) -> MemberLevel | None:
    """The highest level whose threshold the growth reaches (None: below every level)."""
    return (
        MemberLevel.objects.filter(growth_threshold__lte=growth)
        .order_by("-growth_threshold")
        .first()
    )


def _growth_change_locked(
    *,
    member_id: int,
    kind: str,
    growth: int | None,
    amount_fen: int,
    reference: str,
    order_no: str = "",
) -> GrowthLog | None:
    """growth None: a refund of order_no, reversing that order's growth in proportion."""
    member = Member.objects.select_for_update().only("pk", "growth", "level_id").get(pk=member_id)
    if GrowthLog.objects.filter(kind=kind, reference=reference).exists():
        return None
    if growth is None:
        growth = -_order_growth_to_reverse(order_no=order_no, amount_fen=amount_fen)
    growth = max(growth, -member.growth)  # never below zero
    after = member.growth + growth
    try:
        with transaction.atomic():
            log = GrowthLog.objects.create(
                member_id=member_id,
                kind=kind,
                reference=reference,
                order_no=order_no,
                amount_fen=amount_fen,
                growth=growth,
                growth_after=after,
            )
    except IntegrityError:
        return None
    Member.objects.filter(pk=member_id).update(growth=F("growth") + growth)
    member_level_recompute_locked(
        member_id=member_id, growth=after, current_level_id=member.level_id, reference=reference
    )
    return log


def _order_growth_to_reverse(*, order_no: str, amount_fen: int) -> int:
    """A refund of an order takes back the order's growth in proportion to the amount, all of
    it once the whole paid amount is refunded (so partial refunds leave no growth behind);
    without the order's growth log, 1 per whole yuan refunded."""
    paid = (
        GrowthLog.objects.filter(kind=G.ORDER_PAID, reference=f"order:{order_no}")
        .values_list("amount_fen", "growth")
        .first()
        if order_no
        else None
    )
    if paid is None:
        return growth_for_fen(amount_fen)
    paid_fen, order_growth = paid
    before = GrowthLog.objects.filter(kind=G.REFUND, order_no=order_no).aggregate(
        fen=Sum("amount_fen"), growth=Sum("growth")
    )
    refunded = min((before["fen"] or 0) + amount_fen, paid_fen)
    reversed_before = -(before["growth"] or 0)
    target = order_growth if refunded >= paid_fen else order_growth * refunded // paid_fen
    return max(target - reversed_before, 0)


def member_level_recompute_locked(
    *, member_id: int, growth: int, current_level_id: int | None, reference: str = ""
) -> MemberLevel | None:
    """Set the member's level from their growth, logging a change; the caller holds the
    member's lock. Returns the level (unchanged or new)."""
    level = member_level_for_growth(growth=growth)
    new_id = level.pk if level else None
    if new_id != current_level_id:
        Member.objects.filter(pk=member_id).update(level_id=new_id)
        LevelChangeLog.objects.create(
            member_id=member_id,
            from_level_id=current_level_id,
            to_level_id=new_id,
            growth=growth,
            reference=reference[:80],
        )
    return level


def member_growth_add(
    *, member_id: int, amount_fen: int, reference: str, order_no: str = ""
) -> int:
    """Growth for a payment (1 per whole yuan), once per reference; the level follows. In the
    caller's transaction. Returns the growth added (0 on a replay)."""
    with transaction.atomic():
        log = _growth_change_locked(
            member_id=member_id,
            kind=G.ORDER_PAID,
            growth=growth_for_fen(amount_fen),
            amount_fen=amount_fen,
            reference=reference,
            order_no=order_no,
        )
    return log.growth if log else 0


def member_growth_reverse(
    *, member_id: int, amount_fen: int, reference: str, order_no: str = ""
) -> int:
    """Take back the growth of a refund (of order_no: in proportion to what the order added;
    else 1 per whole yuan refunded), never below zero, once per reference (the refund number);
    the level follows, down too. Returns the growth taken."""
    with transaction.atomic():
        log = _growth_change_locked(
            member_id=member_id,
            kind=G.REFUND,
            growth=None if order_no else -growth_for_fen(amount_fen),
            amount_fen=amount_fen,
            reference=reference,
            order_no=order_no,
        )
    return -log.growth if log else 0


def member_levels_recompute_all(*, batch_size: int = 500) -> int:
    """After the merchant changes the levels: every member's level again (batched by id).
    Returns the members whose level changed."""
    changed, after_id = 0, 0
    while rows := list(
        Member.objects.filter(pk__gt=after_id)
        .order_by("pk")
        .values_list("pk", "growth", "level_id")[:batch_size]
    ):
        levels = list(MemberLevel.objects.order_by("-growth_threshold"))
        for member_id, growth, level_id in rows:
            level = next((lv for lv in levels if lv.growth_threshold <= growth), None)
            if (level.pk if level else None) != level_id:
                with transaction.atomic():
                    member = Member.objects.select_for_update().only("growth", "level_id")
                    locked = member.get(pk=member_id)
                    member_level_recompute_locked(
                        member_id=member_id,
                        growth=locked.growth,
                        current_level_id=locked.level_id,
                        reference="等级配置变更",
                    )
                changed += 1
        after_id = rows[-1][0]
    return changed


@dataclass(frozen=True)
class LevelProgress:
    level: MemberLevel | None
    next_level: MemberLevel | None
    growth_gap: int


def member_level_progress(*, member: Member) -> LevelProgress:
    """The member's level, the next one and the growth still missing to reach it."""
    level = member.level if member.level_id else None
    next_level = (
        MemberLevel.objects.filter(growth_threshold__gt=member.growth)
        .order_by("growth_threshold")
        .first()
    )
    gap = next_level.growth_threshold - member.growth if next_level else 0
    return LevelProgress(level=level, next_level=next_level, growth_gap=gap)


def level_multiplier_permille(*, member_id: int) -> int:
    rate = (
        Member.objects.filter(pk=member_id)
        .values_list("level__points_multiplier_permille", flat=True)
        .get()
    )
    return rate if rate is not None else 1000


# --- what an order's payment and refunds change for the member (called by payments) ---
@dataclass(frozen=True)
class _PaidSql:
    lock: str
    lot: str
    grow: str
    grow_to_level: str
    log: str


@cache  # built once per process, after the app registry is ready (one database vendor)
def _paid_sql() -> _PaidSql:
    """The member side of a payment as plain SQL: the notification's hot path, where building
    the equivalent ORM queries cost more than running them. Portable (PostgreSQL, SQLite)."""
    from .models import PointsLot, TaskCard, TaskCompletion

    q = connection.ops.quote_name
    members, levels = q(Member._meta.db_table), q(MemberLevel._meta.db_table)
    tasks, done = q(TaskCard._meta.db_table), q(TaskCompletion._meta.db_table)
    lots, logs = q(PointsLot._meta.db_table), q(GrowthLog._meta.db_table)
    lock = " FOR UPDATE OF m" if connection.features.has_select_for_update_of else ""
    grow = f"""UPDATE {members} SET growth = growth + %(growth)s{{level}} WHERE id = %(member_id)s
    AND NOT EXISTS (SELECT 1 FROM {logs} g WHERE g.kind = %(kind)s AND g.reference = %(reference)s)"""  # noqa: S608
    return _PaidSql(
        # the level's multiplier, the level the new growth reaches, whether the task is due
        lock=f"""SELECT m.growth, m.level_id, COALESCE(l.points_multiplier_permille, 1000),
    (SELECT t.id FROM {levels} t WHERE t.growth_threshold <= m.growth + %(growth)s
        ORDER BY t.growth_threshold DESC LIMIT 1),
    EXISTS (SELECT 1 FROM {tasks} c WHERE c.code = %(task)s AND c.is_active
        AND NOT EXISTS (SELECT 1 FROM {done} d WHERE d.task_id = c.id AND d.member_id = m.id))
FROM {members} m LEFT JOIN {levels} l ON l.id = m.level_id
WHERE m.id = %(member_id)s{lock}""",  # noqa: S608 - table names are ours
        lot=f"""INSERT INTO {lots} (member_id, source_key, order_no, status, points, remaining,
    basis_fen, refunded_fen, reversed_points, earned_at, vests_at, expires_at,
    expiry_notified_at, expired_at)
VALUES (%(member_id)s, %(reference)s, %(order_no)s, %(pending)s, %(points)s, %(points)s,
    %(paid_fen)s, 0, 0, %(now)s, NULL, %(expires_at)s, NULL, NULL)
ON CONFLICT (source_key) DO NOTHING""",  # noqa: S608
        grow=grow.format(level=""),
        grow_to_level=grow.format(level=", level_id = %(level_id)s"),
        log=f"""INSERT INTO {logs} (member_id, kind, reference, order_no, amount_fen, growth,
    growth_after, created_at)
VALUES (%(member_id)s, %(kind)s, %(reference)s, %(order_no)s, %(paid_fen)s, %(growth)s,
    %(growth_after)s, %(now)s)""",  # noqa: S608
    )


def member_order_paid_locked(
    *, member_id: int, order_no: str, paid_fen: int, now: datetime | None = None
) -> None:
    """In the pending → paid transaction: the order's points (pending, at the member's current
    level's multiplier), growth and level, the first_order task.

    The payment notification's hot path, so four statements and no savepoint: one locking read
    of the member that also brings the level's multiplier, the level the new growth reaches and
    whether an active first_order task is still to do; the pending lot (ON CONFLICT on its
    source_key: a replay inserts nothing); one UPDATE of growth and level, only while the order
    has no growth log (the unique (kind, reference) backs it), then that log; a level change
    log only when the level moves.
    """
    from .points import L as LOT
    from .points import points_for_order_paid
    from .task_cards import FIRST_ORDER, task_complete

    now = now or timezone.now()
    sql = _paid_sql()
    adapt = connection.ops.adapt_datetimefield_value
    growth = growth_for_fen(paid_fen)
    params: dict[str, Any] = {
        "member_id": member_id,
        "growth": growth,
        "task": FIRST_ORDER,
        "kind": G.ORDER_PAID.value,
        "reference": f"order:{order_no}",
        "order_no": order_no,
        "paid_fen": paid_fen,
        "now": adapt(now),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql.lock, params)
        before, level_id, multiplier, new_level_id, first_order_due = cursor.fetchone()
        points = points_for_order_paid(paid_fen=paid_fen, multiplier_permille=multiplier)
        if points > 0:
            expires_at = now + timedelta(days=settings.POINTS_EXPIRE_DAYS)
            lot = {"points": points, "pending": LOT.PENDING.value, "expires_at": adapt(expires_at)}
            cursor.execute(sql.lot, params | lot)
        moves = new_level_id != level_id
        cursor.execute(
            sql.grow_to_level if moves else sql.grow, params | {"level_id": new_level_id}
        )
        first_time = cursor.rowcount == 1
        if first_time:
            cursor.execute(sql.log, params | {"growth_after": before + growth})
    if first_time and moves:
        LevelChangeLog.objects.create(
            member_id=member_id,
            from_level_id=level_id,
            to_level_id=new_level_id,
            growth=before + growth,
            reference=params["reference"][:80],
        )
    if first_order_due:
        task_complete(member_id=member_id, code=FIRST_ORDER)


def member_order_refund_settled_locked(
    *, member_id: int, order_no: str, refund_fen: int, refund_no: str
) -> None:
    """In the transaction where a refund of order lines succeeds: growth and the order's earned
    points go back in proportion (each once per refund number)."""
    from .points import points_order_earn_reverse_locked

    member_growth_reverse(
        member_id=member_id, amount_fen=refund_fen, reference=refund_no, order_no=order_no
    )
    points_order_earn_reverse_locked(
        member_id=member_id, order_no=order_no, refund_fen=refund_fen, reference=refund_no
    )
