"""秒杀 flash sales: carve an item's units out of the SKU, admit buyers (Redis, marketing/flash_gate),
take units for orders from the item's own pool, pay / release them exactly once, return the unsold
rest when the session ends, and rebuild the Redis counters from the database.

Lock order: the order row / member row (held by the caller, if any) → the FlashPurchase row
(conditional UPDATE) → the FlashItem row → the SKU row (catalog.stock). Orders and payments are
higher apps and call in: order creation through FlashSaleProvider (load/commit), the pending →
paid transaction (flash_mark_paid), cancel/expiry (flash_release_for_order).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet, Sum
from django.utils import timezone

from catalog.models import StockLog
from catalog.stock import stock_add, stock_deduct
from mall.errors import (
    FlashEnded,
    FlashLimitReached,
    FlashNotAdmitted,
    FlashNotStarted,
    FlashSoldOut,
    PromotionUnavailable,
)
from members.models import Member

from .. import flash_gate
from ..models import FlashItem, FlashPurchase, FlashSession

logger = logging.getLogger(__name__)

KIND = "flash"
# What counts against the per-member limit.
COUNTED = (FlashPurchase.Status.HELD, FlashPurchase.Status.PAID)
# Redis keeps an item's counters this long after its session ends (stragglers' releases).
REDIS_KEEP_AFTER_END = timedelta(days=1)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


# --- items: carve units out of the SKU, end the session, give the rest back ---
@transaction.atomic
def flash_item_activate(*, item_id: int, operator: str = "") -> FlashItem:
    """Carve the item's total_stock out of its SKU's stock (a logged stock move) into the
    item's pool, and load it into Redis after commit. A repeat is a no-op.

    Raises: OutOfStock (the SKU has fewer units), FlashEnded (the session is over).
    """
    item = FlashItem.objects.select_for_update().select_related("session").get(pk=item_id)
    if item.status != FlashItem.Status.DRAFT:
        return item
    if item.session.closed_at is not None:
        raise FlashEnded("场次已结束，不能再上架秒杀商品", item_id=item_id)
    stock_deduct(
        sku_id=item.sku_id,
        qty=item.total_stock,
        reason=StockLog.Reason.FLASH_SALE,
        reference=f"flash:{item.pk}",
        operator=operator,
    )
    FlashItem.objects.filter(pk=item.pk).update(
        flash_stock=item.total_stock, status=FlashItem.Status.ACTIVE
    )
    item.refresh_from_db()
    _item_sync_after_commit(item_id)
    return item


def flash_item_create(
    *,
    session: FlashSession,
    sku_id: int,
    flash_price_fen: int,
    total_stock: int,
    per_member_limit: int = 1,
    sort_order: int = 0,
    operator: str = "",
) -> FlashItem:
    """Put a SKU into a session and carve its units out (see flash_item_activate).

    Raises: OutOfStock, FlashEnded, IntegrityError (the SKU is in the session already).
    """
    with transaction.atomic():
        item = FlashItem.objects.create(
            session=session,
            sku_id=sku_id,
            flash_price_fen=flash_price_fen,
            total_stock=total_stock,
            per_member_limit=per_member_limit,
            sort_order=sort_order,
        )
        return flash_item_activate(item_id=item.pk, operator=operator)


@transaction.atomic
def flash_session_end(
    *, session_id: int, now: datetime | None = None, operator: str = "system"
) -> int:
    """End a session (when it is over, or early from the admin): each item's unsold pool goes
    back to its SKU (logged), and units of unpaid orders that expire later go straight to the SKU
    (flash_release_for_order). Returns the units given back; a repeat gives back nothing.
    """
    now = now or timezone.now()
    session = FlashSession.objects.select_for_update().get(pk=session_id)
    if session.closed_at is not None:
        return 0
    returned = 0
    items = list(
        FlashItem.objects.select_for_update().filter(
            session_id=session_id, status=FlashItem.Status.ACTIVE
        )
    )
    for item in sorted(items, key=lambda i: i.sku_id):
        if item.flash_stock:
            stock_add(
                sku_id=item.sku_id,
                qty=item.flash_stock,
                reason=StockLog.Reason.FLASH_SALE,
                reference=f"flash:{item.pk}:end",
                operator=operator,
            )
            returned += item.flash_stock
    FlashItem.objects.filter(pk__in=[i.pk for i in items]).update(
        flash_stock=0, status=FlashItem.Status.RETURNED
    )
    # Ended early or on time alike: closed_at makes it "ended" everywhere (list, admit, orders).
    FlashSession.objects.filter(pk=session_id).update(closed_at=now)
    if flash_gate.redis_client() is not None:
        item_ids = [i.pk for i in items]
        expire_at = _ms(now + REDIS_KEEP_AFTER_END)
        transaction.on_commit(
            lambda: [
                flash_gate.item_close(item_id=item_id, expire_at_ms=expire_at)
                for item_id in item_ids
            ],
            robust=True,
        )
    return returned


def flash_sessions_end_due(*, now: datetime | None = None) -> int:
    """End every session whose time is over (beat, every minute); returns how many."""
    now = now or timezone.now()
    due = FlashSession.objects.filter(closed_at__isnull=True, ends_at__lte=now).values_list(
        "pk", flat=True
    )
    ended = 0
    for session_id in list(due):
        flash_session_end(session_id=session_id, now=now)
        ended += 1
    return ended


# --- Redis counters: rebuilt from the database ---
def _items_live(now: datetime) -> QuerySet[FlashItem]:
    return FlashItem.objects.filter(
        status=FlashItem.Status.ACTIVE,
        session__is_active=True,
        session__closed_at__isnull=True,
        session__ends_at__gt=now,
    ).select_related("session")


def flash_counters_reconcile(*, now: datetime | None = None, item_ids: Sequence[int] = ()) -> int:
    """Rebuild the Redis counters of live items (or of `item_ids`) from the database: units
    admissible = the pool − live admissions; each member's count = held + paid units + their
    live admission. Admissions that expired unused are dropped, so their units come back here.
    Returns the items loaded (0 without Redis)."""
    if flash_gate.redis_client() is None:
        return 0
    now = now or timezone.now()
    items = _items_live(now)
    if item_ids:
        items = items.filter(pk__in=item_ids)
    items = list(items)
    counts: dict[int, dict[int, int]] = {item.pk: {} for item in items}
    rows = (
        FlashPurchase.objects.filter(item_id__in=list(counts), status__in=COUNTED)
        .values("item_id", "member_id")
        .annotate(units=Sum("quantity"))
        .order_by()
    )
    for row in rows:
        counts[row["item_id"]][row["member_id"]] = row["units"]
    for item in items:
        flash_gate.item_load(
            item_id=item.pk,
            now_ms=_ms(now),
            starts_ms=_ms(item.session.starts_at),
            ends_ms=_ms(item.session.ends_at),
            per_member_limit=item.per_member_limit,
            pool=item.flash_stock,
            member_counts=counts[item.pk],
            expire_at_ms=_ms(item.session.ends_at + REDIS_KEEP_AFTER_END),
        )
    return len(items)


def _item_sync_after_commit(item_id: int) -> None:
    """Reload one item's Redis counters once the caller's transaction has committed, in this
    process (one item: a few milliseconds). Services never import tasks (the tasks call the
    services); should Redis fail here, the beat's flash_counters_reconcile_task rebuilds it
    within a minute, and an admission of an item Redis does not know reloads it too."""
    transaction.on_commit(lambda: flash_counters_reconcile(item_ids=[item_id]), robust=True)


def flash_item_saved(*, item_id: int) -> None:
    """An item's price, limit or session times changed (admin): reload its counters after commit."""
    _item_sync_after_commit(item_id)


# --- admission ---
def flash_admit(
    *, member_id: int, item_id: int, quantity: int, now: datetime | None = None
) -> flash_gate.Admission:
    """Admit the member to buy `quantity` units of the item: one Lua call in Redis (window,
    units left, per-member limit, then take). A member with a live admission gets it again.
    Without Redis (embedded mode) the database is checked directly and nothing is held.

    Raises: FlashNotStarted, FlashEnded, FlashSoldOut, FlashLimitReached, FlashItem.DoesNotExist.
    """
    now = now or timezone.now()
    if flash_gate.redis_client() is None:
        return _admit_from_database(
            member_id=member_id, item_id=item_id, quantity=quantity, now=now
        )
    for attempt in range(2):
        outcome = flash_gate.admit(
            item_id=item_id,
            member_id=member_id,
            quantity=quantity,
            now_ms=_ms(now),
            token=secrets.token_urlsafe(16),
        )
        if outcome.admission is not None:
            return outcome.admission
        if outcome.result != flash_gate.UNKNOWN or attempt:
            break
        # Not in Redis: a new item, Redis restarted, or a session over. Judge and reload it.
        try:
            item = _item_for_sale(item_id=item_id, now=now)
        except FlashEnded:
            # Answer the next requests from Redis alone.
            flash_gate.item_close(item_id=item_id, expire_at_ms=_ms(now + REDIS_KEEP_AFTER_END))
            raise
        except FlashNotStarted:
            flash_counters_reconcile(now=now, item_ids=[item_id])
            raise
        flash_counters_reconcile(now=now, item_ids=[item.pk])
    raise _admit_error(outcome.result, item_id=item_id, quantity=quantity)


def _admit_error(result: str, *, item_id: int, quantity: int) -> Exception:
    if result == flash_gate.NOT_STARTED:
        return FlashNotStarted(item_id=item_id)
    if result == flash_gate.LIMIT:
        return FlashLimitReached(item_id=item_id)
    if result == flash_gate.SOLD_OUT:
        return FlashSoldOut(item_id=item_id, requested=quantity)
    return FlashEnded(item_id=item_id)


def _item_for_sale(*, item_id: int, now: datetime) -> FlashItem:
    item = FlashItem.objects.select_related("session").get(pk=item_id)
    session = item.session
    if item.status == FlashItem.Status.DRAFT:
        raise FlashItem.DoesNotExist(item_id)
    if (
        item.status != FlashItem.Status.ACTIVE
        or not session.is_active
        or session.closed_at is not None
    ):
        raise FlashEnded(item_id=item_id)
    if now < session.starts_at:
        raise FlashNotStarted(item_id=item_id, starts_at=session.starts_at.isoformat())
    if now >= session.ends_at:
        raise FlashEnded(item_id=item_id)
    return item


def _member_units(*, item_id: int, member_id: int) -> int:
    return (
        FlashPurchase.objects.filter(
            item_id=item_id, member_id=member_id, status__in=COUNTED
        ).aggregate(units=Sum("quantity"))["units"]
        or 0
    )


def _admit_from_database(
    *, member_id: int, item_id: int, quantity: int, now: datetime
) -> flash_gate.Admission:
    item = _item_for_sale(item_id=item_id, now=now)
    if _member_units(item_id=item_id, member_id=member_id) + quantity > item.per_member_limit:
        raise FlashLimitReached(item_id=item_id)
    if item.flash_stock < quantity:
        raise FlashSoldOut(item_id=item_id, requested=quantity)
    expires = now + timedelta(seconds=settings.FLASH_SALE_ADMISSION_TTL)
    return flash_gate.Admission(secrets.token_urlsafe(16), quantity, _ms(expires))


# --- checkout: what the provider loads and commits ---
@dataclass(frozen=True)
class FlashLoaded:
    """A flash choice checked at pricing time."""

    item_id: int
    sku_id: int
    flash_price_fen: int
    quantity: int
    admission_token: str | None  # None in the embedded mode (no Redis)

    @property
    def ref(self) -> str:
        return f"flash:{self.item_id}"


def flash_pricing_load(
    *, member: Member, item_id: int | None, lines: Sequence[Any], now: datetime
) -> FlashLoaded:
    """Check a flash choice at checkout: one line of the item's SKU, the session running, the
    member within the limit and holding a live admission, units left in the pool.

    Raises: PromotionUnavailable, FlashNotStarted, FlashEnded, FlashLimitReached, FlashSoldOut,
    FlashNotAdmitted.
    """
    try:
        item = _item_for_sale(item_id=item_id or 0, now=now)
    except FlashItem.DoesNotExist:
        raise PromotionUnavailable(kind=KIND, id=item_id) from None
    if len(lines) != 1 or lines[0].sku_id != item.sku_id:
        raise PromotionUnavailable("秒杀商品须单独下单", kind=KIND, id=item_id)
    quantity = lines[0].quantity
    if _member_units(item_id=item.pk, member_id=member.pk) + quantity > item.per_member_limit:
        raise FlashLimitReached(item_id=item.pk, limit=item.per_member_limit)
    if item.flash_stock < quantity:
        raise FlashSoldOut(item_id=item.pk, requested=quantity)
    token = None
    if flash_gate.redis_client() is not None:
        admission = flash_gate.admission_get(item_id=item.pk, member_id=member.pk, now_ms=_ms(now))
        if admission is None or admission.quantity < quantity:
            raise FlashNotAdmitted(item_id=item.pk)
        token = admission.token
    return FlashLoaded(
        item_id=item.pk,
        sku_id=item.sku_id,
        flash_price_fen=item.flash_price_fen,
        quantity=quantity,
        admission_token=token,
    )


def flash_take_for_order(
    *, loaded: FlashLoaded, member_id: int, order_id: int, order_no: str
) -> FlashPurchase:
    """Take the order's units from the item's pool (conditional UPDATE) and record the take.
    Runs inside order creation's transaction, with the member row locked (one member's orders
    are serialised, so the per-member count read here is exact).

    Raises: FlashNotAdmitted (the admission was used by another order), FlashLimitReached,
    FlashSoldOut (the pool is empty, or the session just ended).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("flash_take_for_order must run inside the order's transaction")
    token = loaded.admission_token
    if token is not None and FlashPurchase.objects.filter(admission_token=token).exists():
        raise FlashNotAdmitted(item_id=loaded.item_id)
    limit = FlashItem.objects.filter(pk=loaded.item_id).values_list("per_member_limit", flat=True)
    units = _member_units(item_id=loaded.item_id, member_id=member_id)
    if units + loaded.quantity > limit.get():
        raise FlashLimitReached(item_id=loaded.item_id)
    taken = FlashItem.objects.filter(
        pk=loaded.item_id, status=FlashItem.Status.ACTIVE, flash_stock__gte=loaded.quantity
    ).update(flash_stock=F("flash_stock") - loaded.quantity)
    if not taken:
        raise FlashSoldOut(item_id=loaded.item_id, requested=loaded.quantity)
    purchase = FlashPurchase.objects.create(
        order_id=order_id,
        order_no=order_no,
        item_id=loaded.item_id,
        member_id=member_id,
        quantity=loaded.quantity,
        admission_token=token,
    )
    if token is not None:
        item_id = loaded.item_id
        transaction.on_commit(
            lambda: flash_gate.admission_consume(item_id=item_id, member_id=member_id, token=token),
            robust=True,  # the order is committed; a lost consume only expires later
        )
    return purchase


def flash_mark_paid(*, order_id: int) -> bool:
    """The order was paid (in payments' pending → paid transaction): its held units are sold.
    Returns whether the order had flash units (a repeat, or a non-flash order: False)."""
    if not FlashPurchase.objects.filter(order_id=order_id, status=FlashPurchase.Status.HELD).update(
        status=FlashPurchase.Status.PAID
    ):
        return False
    purchase = FlashPurchase.objects.only("item_id", "quantity").get(order_id=order_id)
    FlashItem.objects.filter(pk=purchase.item_id).update(sold=F("sold") + purchase.quantity)
    return True


def flash_refunded_for_order(*, order_id: int) -> bool:
    """A paid flash order was fully refunded (payments' _order_refunded_fully_locked): its units
    are no longer sold (GMV, the member's limit). The goods themselves go back to the SKU's
    stock through the refund's restock, if any. Returns whether this call changed anything."""
    if not FlashPurchase.objects.filter(order_id=order_id, status=FlashPurchase.Status.PAID).update(
        status=FlashPurchase.Status.REFUNDED
    ):
        return False
    purchase = FlashPurchase.objects.only("item_id", "quantity").get(order_id=order_id)
    FlashItem.objects.filter(pk=purchase.item_id).update(sold=F("sold") - purchase.quantity)
    return True


def flash_release_for_order(*, order_id: int) -> bool:
    """An unpaid order was cancelled or expired (orders' _order_release_benefits, in the
    winner's transaction): its units go back to the item's pool (or to the SKU when the session
    has ended) and, after commit, to the Redis counters. Exactly once: the purchase's held →
    released is a conditional UPDATE. Returns whether this call released units."""
    if not FlashPurchase.objects.filter(order_id=order_id, status=FlashPurchase.Status.HELD).update(
        status=FlashPurchase.Status.RELEASED
    ):
        return False
    purchase = FlashPurchase.objects.only("item_id", "member_id", "quantity", "order_no").get(
        order_id=order_id
    )
    item = FlashItem.objects.select_for_update().only("status", "sku_id").get(pk=purchase.item_id)
    if item.status == FlashItem.Status.ACTIVE:
        FlashItem.objects.filter(pk=item.pk).update(
            flash_stock=F("flash_stock") + purchase.quantity
        )
        if flash_gate.redis_client() is not None:
            item_id, member_id, quantity = item.pk, purchase.member_id, purchase.quantity
            transaction.on_commit(
                lambda: flash_gate.counters_release(
                    item_id=item_id, member_id=member_id, quantity=quantity
                ),
                robust=True,  # the next reconcile puts it right
            )
    else:  # the session has ended and given its pool back: these units go to the SKU too
        stock_add(
            sku_id=item.sku_id,
            qty=purchase.quantity,
            reason=StockLog.Reason.FLASH_SALE,
            reference=f"flash:{item.pk}:{purchase.order_no}",
        )
    return True


# --- reads ---
SESSION_UPCOMING, SESSION_ONGOING, SESSION_ENDED = "upcoming", "ongoing", "ended"


def flash_session_status(session: FlashSession, now: datetime) -> str:
    if session.closed_at is not None or not session.is_active or now >= session.ends_at:
        return SESSION_ENDED
    return SESSION_ONGOING if now >= session.starts_at else SESSION_UPCOMING


def flash_sessions_of_day(*, now: datetime | None = None) -> list[FlashSession]:
    """The day's sessions (shop's time zone), in start order."""
    now = now or timezone.now()
    day_start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return list(
        FlashSession.objects.filter(
            is_active=True, starts_at__gte=day_start, starts_at__lt=day_start + timedelta(days=1)
        ).order_by("starts_at")
    )


def flash_session_items(*, session_id: int) -> QuerySet[FlashItem]:
    """A session's items on sale (or sold), with their SKU and product for display."""
    return (
        FlashItem.objects.filter(
            session_id=session_id, status__in=(FlashItem.Status.ACTIVE, FlashItem.Status.RETURNED)
        )
        .select_related("sku__product")
        .order_by("sort_order", "id")
    )


def flash_items_remaining(items: Sequence[FlashItem]) -> dict[int, int]:
    """{item id: units a shopper can still get}: Redis's admissible count when loaded, else the
    database pool."""
    left = flash_gate.items_left(
        [item.pk for item in items if item.status == FlashItem.Status.ACTIVE]
    )
    return {
        item.pk: (
            left.get(item.pk, item.flash_stock) if item.status == FlashItem.Status.ACTIVE else 0
        )
        for item in items
    }
