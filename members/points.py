"""Points (积分): earn lots spent first-in-first-out by expiry, and an append-only ledger.

Invariants (tested): `Member.points_balance` == Σ ledger points of the member == Σ `remaining` of
the member's vested lots, and it is never negative. Every write locks the member's row first
(`_member_lock`), so one member's points move one at a time; the balance itself also only
changes by conditional UPDATEs. Each ledger row is unique per (kind, reference): a replayed
event writes nothing.

Lots: sign-in, tasks and manual additions vest at once; an order's points are a pending lot
(not spendable) until the order is past the after-sales window (shop.lifecycle.points_vesting),
shrink in proportion to refunds before that, and are reversed (as far as the balance allows) by
refunds after. Each lot expires POINTS_EXPIRE_DAYS after it was earned (`points_expire_task`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet, Sum
from django.utils import timezone

from mall.discounts import PointsRule
from mall.errors import PointsAdjustInvalid, PointsInsufficient
from mall.money import BASIS_POINTS, mul_div_round_half_up

from .models import Member, PointsLedger, PointsLot, PointsSpendPart
from .subscribe_messages import subscribe_message_queue

logger = logging.getLogger(__name__)


def _vested_lot_create(*, member_id: int, source_key: str, points: int, now: datetime) -> PointsLot:
    """A lot spendable at once (sign-in, tasks, adjustments …), expiring POINTS_EXPIRE_DAYS on."""
    return PointsLot.objects.create(
        member_id=member_id,
        source_key=source_key,
        status=PointsLot.Status.VESTED,
        points=points,
        remaining=points,
        earned_at=now,
        vests_at=now,
        expires_at=now + timedelta(days=settings.POINTS_EXPIRE_DAYS),
    )


def points_rule_get() -> PointsRule:
    """How points pay at checkout (worth and cap)."""
    return PointsRule(
        points_per_yuan=settings.POINTS_PER_YUAN, max_percent=settings.POINTS_MAX_DEDUCT_PERCENT
    )


# --- helpers (the caller holds the member's lock) ---
def _member_lock(member_id: int) -> int:
    """Lock the member's row; returns the spendable balance."""
    return (
        Member.objects.select_for_update()
        .filter(pk=member_id)
        .values_list("points_balance", flat=True)
        .get()
    )


def _balance_change_locked(*, member_id: int, points: int) -> int:
    """Add (or, negative, take) points; returns the balance after. Never below zero."""
    if points >= 0:
        Member.objects.filter(pk=member_id).update(points_balance=F("points_balance") + points)
    else:
        changed = Member.objects.filter(pk=member_id, points_balance__gte=-points).update(
            points_balance=F("points_balance") + points
        )
        if not changed:
            raise PointsInsufficient(points=-points)
    return Member.objects.filter(pk=member_id).values_list("points_balance", flat=True).get()


def _ledger_write(
    *,
    member_id: int,
    kind: str,
    points: int,
    reference: str,
    lot: PointsLot | None = None,
    note: str = "",
    operator: str = "",
) -> PointsLedger:
    balance_after = _balance_change_locked(member_id=member_id, points=points)
    return PointsLedger.objects.create(
        member_id=member_id,
        kind=kind,
        points=points,
        balance_after=balance_after,
        reference=reference,
        lot=lot,
        note=note[:200],
        operator=operator[:80],
    )


def _ledger_exists(kind: str, reference: str) -> bool:
    return PointsLedger.objects.filter(kind=kind, reference=reference).exists()


def _lots_take_locked(
    *, member_id: int, points: int, first_lot_id: int | None = None
) -> list[tuple[PointsLot, int]]:
    """Take up to `points` from the member's vested lots, the earliest expiry first (a given
    lot first when first_lot_id); returns (lot, taken) pairs. The caller moves the balance."""
    lots = list(
        PointsLot.objects.select_for_update()
        .filter(member_id=member_id, status=PointsLot.Status.VESTED, remaining__gt=0)
        .order_by("expires_at", "id")
    )
    if first_lot_id is not None:
        lots.sort(key=lambda lot: lot.pk != first_lot_id)  # stable: keeps FIFO for the rest
    taken: list[tuple[PointsLot, int]] = []
    left = points
    for lot in lots:
        if left <= 0:
            break
        take = min(left, lot.remaining)
        PointsLot.objects.filter(pk=lot.pk).update(remaining=F("remaining") - take)
        taken.append((lot, take))
        left -= take
    if left > 0 and (opening := _unbacked_balance_adopt_locked(member_id=member_id)) is not None:
        take = min(left, opening.remaining)
        PointsLot.objects.filter(pk=opening.pk).update(remaining=F("remaining") - take)
        taken.append((opening, take))
    return taken


def _unbacked_balance_adopt_locked(*, member_id: int) -> PointsLot | None:
    """A balance no lot holds (set before points had lots, or written straight to the column)
    gets an opening lot for that part, and an opening ledger row that brings Σ ledger back to
    the balance (the balance itself does not move)."""
    balance = Member.objects.filter(pk=member_id).values_list("points_balance", flat=True).get()
    backed = (
        PointsLot.objects.filter(member_id=member_id, status=PointsLot.Status.VESTED).aggregate(
            s=Sum("remaining")
        )["s"]
        or 0
    )
    ledger = PointsLedger.objects.filter(member_id=member_id).aggregate(s=Sum("points"))["s"] or 0
    if balance <= backed:
        return None
    now = timezone.now()
    seq = PointsLot.objects.filter(member_id=member_id, source_key__startswith="opening:").count()
    reference = f"opening:{member_id}:{seq + 1}"
    lot = _vested_lot_create(
        member_id=member_id, source_key=reference, points=balance - backed, now=now
    )
    if balance != ledger:
        PointsLedger.objects.create(
            member_id=member_id,
            kind=PointsLedger.Kind.ADJUST,
            points=balance - ledger,
            balance_after=balance,
            reference=reference,
            lot=lot,
            note="期初积分（积分批次之前的余额）",
        )
    logger.warning("points of member %s: %s not held by any lot, opened one", member_id, lot.points)
    return lot


# --- earn ---
def points_earn(
    *,
    member_id: int,
    points: int,
    source_key: str,
    note: str = "",
    now: datetime | None = None,
) -> bool:
    """Give points that are spendable at once (sign-in, a task, a referral reward), as a lot
    expiring POINTS_EXPIRE_DAYS later; in the caller's transaction. Returns False when this
    source_key was rewarded already (nothing written)."""
    if points <= 0:
        return False
    now = now or timezone.now()
    try:
        with transaction.atomic():
            _member_lock(member_id)
            if PointsLot.objects.filter(source_key=source_key).exists():
                return False
            lot = _vested_lot_create(
                member_id=member_id, source_key=source_key, points=points, now=now
            )
            _ledger_write(
                member_id=member_id,
                kind=PointsLedger.Kind.EARN,
                points=points,
                reference=source_key,
                lot=lot,
                note=note,
            )
    except IntegrityError:  # the same source_key for another member, at the same moment
        return False
    return True


def points_for_order_paid(*, paid_fen: int, multiplier_bp: int) -> int:
    """Points a payment earns: POINTS_PER_YUAN_PAID per whole yuan, times the level's rate
    (basis points: 10000 = ×1)."""
    base = (paid_fen // 100) * settings.POINTS_PER_YUAN_PAID
    return base * multiplier_bp // BASIS_POINTS


def points_lot_vest(*, lot_id: int, now: datetime | None = None) -> bool:
    """Make a pending lot spendable (its order is past the after-sales window); safe to run
    twice. Returns whether this call vested it."""
    now = now or timezone.now()
    with transaction.atomic():
        member_id = PointsLot.objects.filter(pk=lot_id).values_list("member_id", flat=True).get()
        _member_lock(member_id)
        lot = PointsLot.objects.select_for_update().get(pk=lot_id)
        if lot.status != PointsLot.Status.PENDING:
            return False
        if lot.remaining == 0:  # refunds took it all back before it vested
            PointsLot.objects.filter(pk=lot.pk).update(status=PointsLot.Status.CANCELLED)
            return False
        PointsLot.objects.filter(pk=lot.pk).update(status=PointsLot.Status.VESTED, vests_at=now)
        _ledger_write(
            member_id=member_id,
            kind=PointsLedger.Kind.VEST,
            points=lot.remaining,
            reference=lot.source_key,
            lot=lot,
            note="订单积分生效",
        )
    return True


def points_order_earn_reverse_locked(
    *,
    member_id: int,
    order_no: str,
    refund_fen: int,
    reference: str,
) -> int:
    """A refund of a paid order takes back its points in proportion (all of them once the
    whole paid amount is refunded): from the pending lot before it vests; after, from the
    balance (that lot first, then the earliest expiring), at most what the member still has;
    a shortfall is logged. One ledger row "reverse" per refund (0 points while pending), so a
    replay does nothing. Returns the points taken from the balance."""
    lot = PointsLot.objects.filter(source_key=f"order:{order_no}").first()
    if lot is None or refund_fen <= 0:
        return 0
    _member_lock(member_id)
    if _ledger_exists(PointsLedger.Kind.REVERSE, reference):
        return 0
    lot = PointsLot.objects.select_for_update().get(pk=lot.pk)
    refunded = min(lot.refunded_fen + refund_fen, lot.basis_fen)
    target = (
        lot.points
        if refunded >= lot.basis_fen
        else mul_div_round_half_up(lot.points, refunded, lot.basis_fen)
    )
    delta = max(target - lot.reversed_points, 0)
    PointsLot.objects.filter(pk=lot.pk).update(
        refunded_fen=refunded, reversed_points=F("reversed_points") + delta
    )
    if lot.status != PointsLot.Status.VESTED:
        cut = min(delta, lot.remaining)
        PointsLot.objects.filter(pk=lot.pk).update(
            remaining=F("remaining") - cut,
            status=PointsLot.Status.CANCELLED if cut == lot.remaining else lot.status,
        )
        _ledger_write(
            member_id=member_id,
            kind=PointsLedger.Kind.REVERSE,
            points=0,
            reference=reference,
            lot=lot,
            note=f"退款：待生效积分扣减 {cut}",
        )
        return 0
    balance = Member.objects.filter(pk=member_id).values_list("points_balance", flat=True).get()
    wanted = min(delta, balance)
    taken = _lots_take_locked(member_id=member_id, points=wanted, first_lot_id=lot.pk)
    took = sum(n for _, n in taken)
    note = f"退款扣回订单积分 {took}"
    if took < delta:
        note += f"（应扣 {delta}，可用积分不足）"
        logger.warning(
            "points reverse %s: wanted %s, member %s had %s", reference, delta, member_id, took
        )
    _ledger_write(
        member_id=member_id,
        kind=PointsLedger.Kind.REVERSE,
        points=-took,
        reference=reference,
        lot=lot,
        note=note,
    )
    return took


# --- spend and refund (checkout) ---
def points_spend(*, member_id: int, points: int, reference: str) -> None:
    """Take points for `reference` (e.g. "order:<no>") from the earliest-expiring lots, in the
    caller's transaction; a repeated reference takes nothing.

    Raises: PointsInsufficient (nothing taken).
    """
    if points <= 0:
        return
    with transaction.atomic():
        balance = _member_lock(member_id)
        if _ledger_exists(PointsLedger.Kind.SPEND, reference):
            return
        if balance < points:
            raise PointsInsufficient(points=points, balance=balance)
        taken = _lots_take_locked(member_id=member_id, points=points)
        if sum(n for _, n in taken) != points:  # lots out of step with the balance: a bug
            raise PointsInsufficient(points=points, balance=balance)
        spend = _ledger_write(
            member_id=member_id, kind=PointsLedger.Kind.SPEND, points=-points, reference=reference
        )
        PointsSpendPart.objects.bulk_create(
            PointsSpendPart(spend=spend, lot=lot, points=n) for lot, n in taken
        )


def points_refund(*, member_id: int, reference: str, points: int | None = None) -> int:
    """Give back the points spent for `reference` to the lots they came from (an unpaid order
    cancelled, a paid one fully refunded); in the caller's transaction, once: a second call
    returns 0. `points` is ignored (the spend's own record says how many). Lots past their
    expiry get the points back and lose them at the next expiry run."""
    with transaction.atomic():
        _member_lock(member_id)
        spend = PointsLedger.objects.filter(
            kind=PointsLedger.Kind.SPEND, reference=reference
        ).first()
        if spend is None or _ledger_exists(PointsLedger.Kind.REFUND, reference):
            return 0
        total = 0
        for part in spend.parts.all():
            PointsLot.objects.filter(pk=part.lot_id).update(remaining=F("remaining") + part.points)
            total += part.points
        _ledger_write(
            member_id=member_id, kind=PointsLedger.Kind.REFUND, points=total, reference=reference
        )
    return total


# --- manual adjustment (admin) ---
def points_adjust(*, member_id: int, points: int, reason: str, operator: str) -> PointsLedger:
    """A merchant's manual adjustment with a reason: + a new lot, − from the earliest expiring.

    Raises: PointsAdjustInvalid (0 points, no reason, more than the spendable balance).
    """
    reason = reason.strip()
    if points == 0 or not reason:
        raise PointsAdjustInvalid(points=points)
    now = timezone.now()
    with transaction.atomic():
        balance = _member_lock(member_id)
        seq = (
            PointsLedger.objects.filter(member_id=member_id, kind=PointsLedger.Kind.ADJUST).count()
            + 1
        )
        reference = f"adjust:{member_id}:{seq}"
        if points > 0:
            lot = _vested_lot_create(
                member_id=member_id, source_key=reference, points=points, now=now
            )
            return _ledger_write(
                member_id=member_id,
                kind=PointsLedger.Kind.ADJUST,
                points=points,
                reference=reference,
                lot=lot,
                note=reason,
                operator=operator,
            )
        if balance < -points:
            raise PointsAdjustInvalid("扣减积分超过可用积分", points=points, balance=balance)
        _lots_take_locked(member_id=member_id, points=-points)
        return _ledger_write(
            member_id=member_id,
            kind=PointsLedger.Kind.ADJUST,
            points=points,
            reference=reference,
            note=reason,
            operator=operator,
        )


# --- expiry ---
def points_lot_expire(*, lot_id: int, now: datetime | None = None) -> int:
    """Expire what is left of one lot past its expiry; safe to run twice. Returns points."""
    now = now or timezone.now()
    with transaction.atomic():
        member_id = PointsLot.objects.filter(pk=lot_id).values_list("member_id", flat=True).get()
        _member_lock(member_id)
        lot = PointsLot.objects.select_for_update().get(pk=lot_id)
        if lot.status != PointsLot.Status.VESTED or lot.remaining == 0 or lot.expires_at > now:
            return 0
        PointsLot.objects.filter(pk=lot.pk).update(remaining=0, expired_at=now)
        # A lot can expire more than once (a refund gave points back to it after it expired).
        n = PointsLedger.objects.filter(kind=PointsLedger.Kind.EXPIRE, lot=lot).count()
        _ledger_write(
            member_id=member_id,
            kind=PointsLedger.Kind.EXPIRE,
            points=-lot.remaining,
            reference=f"expire:{lot.pk}" + (f":{n + 1}" if n else ""),
            lot=lot,
            note="积分过期",
        )
        return lot.remaining


def points_expired_lot_ids(*, now: datetime, after_id: int, limit: int) -> list[int]:
    """A batch of lots due to expire, by id (the beat task walks them in constant memory)."""
    return list(
        PointsLot.objects.filter(
            status=PointsLot.Status.VESTED, remaining__gt=0, expires_at__lte=now, pk__gt=after_id
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def points_expire_due(*, now: datetime | None = None, batch_size: int | None = None) -> int:
    """Expire every lot past its expiry, in batches; returns the points expired."""
    now = now or timezone.now()
    batch_size = batch_size or settings.POINTS_BATCH_SIZE
    total, after_id = 0, 0
    while ids := points_expired_lot_ids(now=now, after_id=after_id, limit=batch_size):
        for lot_id in ids:
            total += points_lot_expire(lot_id=lot_id, now=now)
        after_id = ids[-1]
    return total


def points_expiry_notify_due(*, now: datetime | None = None, batch_size: int | None = None) -> int:
    """The "points_expiring" subscribe message POINTS_EXPIRY_NOTICE_DAYS before lots expire:
    each lot is announced once (marked on the lot), and a member whose several lots (daily
    sign-ins) come due gets one message with their total, not one per lot. Batched by member
    id. Returns the messages queued."""
    now = now or timezone.now()
    batch_size = batch_size or settings.POINTS_BATCH_SIZE
    horizon = now + timedelta(days=settings.POINTS_EXPIRY_NOTICE_DAYS)
    due = PointsLot.objects.filter(
        status=PointsLot.Status.VESTED,
        remaining__gt=0,
        expires_at__gt=now,
        expires_at__lte=horizon,
        expiry_notified_at__isnull=True,
    )
    sent, after_member = 0, 0
    while member_ids := list(
        due.filter(member_id__gt=after_member)
        .order_by("member_id")
        .values_list("member_id", flat=True)
        .distinct()[:batch_size]
    ):
        for member_id in member_ids:
            with transaction.atomic():
                lots = list(
                    due.filter(member_id=member_id)
                    .select_for_update(skip_locked=True)
                    .values_list("pk", "remaining", "expires_at")
                )
                if not lots:
                    continue
                PointsLot.objects.filter(pk__in=[pk for pk, _, _ in lots]).update(
                    expiry_notified_at=now
                )
                first_expiry = min(expires_at for _, _, expires_at in lots)
                queued = subscribe_message_queue(
                    member=Member.objects.only("pk", "openid").get(pk=member_id),
                    template_key="points_expiring",
                    data={
                        "number1": {"value": str(sum(n for _, n, _ in lots))},
                        "date2": {"value": timezone.localtime(first_expiry).strftime("%Y-%m-%d")},
                        "thing3": {"value": "您有积分即将过期，快去使用吧"},
                    },
                    page="pages/points/index",
                    dedup_key=f"points_expiring:{member_id}:{min(pk for pk, _, _ in lots)}",
                )
                sent += queued is not None
        after_member = member_ids[-1]
    return sent


# --- vesting of order lots (the task decides which orders are past the window) ---
def points_pending_lots(*, after_id: int, limit: int) -> list[tuple[int, str]]:
    """A batch of pending order lots as (lot id, order no), by id."""
    return list(
        PointsLot.objects.filter(status=PointsLot.Status.PENDING, pk__gt=after_id)
        .order_by("pk")
        .values_list("pk", "order_no")[:limit]
    )


def points_lots_vest(*, lot_ids: Iterable[int], now: datetime | None = None) -> int:
    """Vest these pending lots; returns how many this call vested."""
    return sum(points_lot_vest(lot_id=lot_id, now=now) for lot_id in lot_ids)


def points_ledger_for_member(*, member_id: int) -> QuerySet[PointsLedger]:
    """The member's ledger, newest first (the API paginates it)."""
    return PointsLedger.objects.filter(member_id=member_id).order_by("-id")


def points_pending_for_member(*, member_id: int) -> int:
    """Points earned by orders still in their after-sales window (shown, not spendable)."""
    return sum(
        PointsLot.objects.filter(member_id=member_id, status=PointsLot.Status.PENDING).values_list(
            "remaining", flat=True
        )
    )


def points_balance_matches_ledger(*, member_id: int) -> bool:
    """Σ ledger == balance == Σ vested lots' remaining (tests and the admin use it)."""
    ledger = PointsLedger.objects.filter(member_id=member_id).aggregate(s=Sum("points"))["s"] or 0
    lots = (
        PointsLot.objects.filter(member_id=member_id, status=PointsLot.Status.VESTED).aggregate(
            s=Sum("remaining")
        )["s"]
        or 0
    )
    balance = Member.objects.filter(pk=member_id).values_list("points_balance", flat=True).get()
    return ledger == balance == lots


__all__ = [
    "points_adjust",
    "points_earn",
    "points_expire_due",
    "points_expiry_notify_due",
    "points_lot_vest",
    "points_order_earn_reverse_locked",
    "points_refund",
    "points_rule_get",
    "points_spend",
]
