"""Levels (会员等级) and growth (成长值): 1 growth per whole yuan paid, taken back by refunds;
the level follows the growth up and down, each change logged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from . import sql
from .models import GrowthLog, LevelChangeLog, Member, MemberLevel
from .points import points_for_order_paid, points_order_earn_reverse_locked
from .task_cards import FIRST_ORDER, task_complete


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
        GrowthLog.objects.filter(kind=GrowthLog.Kind.ORDER_PAID, reference=f"order:{order_no}")
        .values_list("amount_fen", "growth")
        .first()
        if order_no
        else None
    )
    if paid is None:
        return growth_for_fen(amount_fen)
    paid_fen, order_growth = paid
    before = GrowthLog.objects.filter(kind=GrowthLog.Kind.REFUND, order_no=order_no).aggregate(
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
            kind=GrowthLog.Kind.ORDER_PAID,
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
            kind=GrowthLog.Kind.REFUND,
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


# --- what an order's payment and refunds change for the member (called by payments) ---
def member_order_paid_locked(
    *, member_id: int, order_no: str, paid_fen: int, now: datetime | None = None
) -> None:
    """In the pending → paid transaction: the order's points (pending, at the member's current
    level's multiplier), growth and level, the first_order task.

    The payment notification's hot path, so four statements and no savepoint (members.sql): a
    locking read of the member that brings all it needs, the pending lot (a replay inserts
    nothing), the growth and level once per order, its growth log; a level change log only when
    the level moves.
    """
    now = now or timezone.now()
    growth = growth_for_fen(paid_fen)
    reference = f"order:{order_no}"
    state = sql.member_paid_state_lock(member_id=member_id, growth=growth, task=FIRST_ORDER)
    points = points_for_order_paid(paid_fen=paid_fen, multiplier_bp=state.points_multiplier_bp)
    if points > 0:
        sql.points_lot_pending_insert(
            member_id=member_id,
            source_key=reference,
            order_no=order_no,
            points=points,
            paid_fen=paid_fen,
            now=now,
            expires_at=now + timedelta(days=settings.POINTS_EXPIRE_DAYS),
        )
    moves = state.level_id_after != state.level_id
    first_time = sql.member_growth_add_once(
        member_id=member_id,
        growth=growth,
        growth_after=state.growth + growth,
        level_id=state.level_id_after,
        set_level=moves,
        kind=GrowthLog.Kind.ORDER_PAID.value,
        reference=reference,
        order_no=order_no,
        amount_fen=paid_fen,
        now=now,
    )
    if first_time and moves:
        LevelChangeLog.objects.create(
            member_id=member_id,
            from_level_id=state.level_id,
            to_level_id=state.level_id_after,
            growth=state.growth + growth,
            reference=reference[:80],
        )
    if state.task_due:
        task_complete(member_id=member_id, code=FIRST_ORDER)


def member_order_refund_settled_locked(
    *, member_id: int, order_no: str, refund_fen: int, refund_no: str
) -> None:
    """In the transaction where a refund of order lines succeeds: growth and the order's earned
    points go back in proportion (each once per refund number)."""
    member_growth_reverse(
        member_id=member_id, amount_fen=refund_fen, reference=refund_no, order_no=order_no
    )
    points_order_earn_reverse_locked(
        member_id=member_id, order_no=order_no, refund_fen=refund_fen, reference=refund_no
    )
