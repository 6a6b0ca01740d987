"""Campaigns: create, end early, the live snapshot pricing reads (cached), 限购 counters and the
per-order usage rows (taken at order creation, settled by the order's payment, cancel or refund).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, F, QuerySet, Sum
from django.utils import timezone

from mall.errors import CampaignInvalid, CampaignPurchaseLimitReached, PromotionUnavailable
from marketing import campaign_rules as rules
from marketing.campaign_rules import CampaignData, ItemData, TierData
from marketing.models import Campaign, CampaignItem, CampaignPurchase, CampaignTier, CampaignUsage

SNAPSHOT_CACHE_KEY = "marketing:campaigns:live:v1"


# --- writes ---
@dataclass(frozen=True)
class TierInput:
    threshold: int
    reduce_fen: int = 0
    rate_bp: int = 10_000


@dataclass(frozen=True)
class ItemInput:
    sku_id: int
    price_fen: int | None = None
    rate_bp: int | None = None
    limit_per_member: int = 0


def campaign_validate(
    *,
    kind: str,
    starts_at: datetime,
    ends_at: datetime,
    scope: str,
    category_ids: Sequence[int],
    product_ids: Sequence[int],
    combinable_kinds: Sequence[str],
    is_repeat: bool,
    tiers: Sequence[TierInput],
    items: Sequence[ItemInput],
    bundle_quantity: int,
    bundle_price_fen: int,
    buy_quantity: int,
    gift_quantity: int,
) -> None:
    """Raises: CampaignInvalid (with detail.field) when the settings do not add up."""
    if kind not in Campaign.Kind.values:
        raise CampaignInvalid("活动类型无效", field="kind")
    if ends_at <= starts_at:
        raise CampaignInvalid("结束时间须晚于开始时间", field="ends_at")
    if scope == Campaign.Scope.CATEGORIES and not category_ids:
        raise CampaignInvalid("请选择适用分类", field="categories")
    if scope == Campaign.Scope.PRODUCTS and not product_ids:
        raise CampaignInvalid("请选择适用商品", field="products")
    if any(k not in Campaign.Kind.values for k in combinable_kinds):
        raise CampaignInvalid("可叠加的活动类型无效", field="combinable_kinds")
    if kind in (Campaign.Kind.FULL_REDUCTION, Campaign.Kind.FULL_DISCOUNT):
        if not tiers:
            raise CampaignInvalid("请至少设置一档优惠", field="tiers")
        thresholds = [t.threshold for t in tiers]
        if len(set(thresholds)) != len(thresholds) or min(thresholds) <= 0:
            raise CampaignInvalid("档位门槛须大于 0 且互不相同", field="tiers")
        if kind == Campaign.Kind.FULL_REDUCTION and any(t.reduce_fen <= 0 for t in tiers):
            raise CampaignInvalid("满减金额须大于 0", field="tiers")
        if kind == Campaign.Kind.FULL_DISCOUNT and any(not 0 < t.rate_bp < 10_000 for t in tiers):
            raise CampaignInvalid("折扣率须在 0 到 10000 之间（9折 = 9000）", field="tiers")
        if is_repeat and (kind != Campaign.Kind.FULL_REDUCTION or len(tiers) != 1):
            raise CampaignInvalid("上不封顶只用于单档满减", field="is_repeat")
    if kind == Campaign.Kind.LIMITED_TIME:
        if not items:
            raise CampaignInvalid("请添加限时折扣商品", field="items")
        for item in items:
            if item.price_fen is None and item.rate_bp is None:
                raise CampaignInvalid("请填写活动价或折扣率", field="items", sku_id=item.sku_id)
            if item.rate_bp is not None and not 0 <= item.rate_bp <= 10_000:
                raise CampaignInvalid("折扣率须在 0 到 10000 之间", field="items")
        if len({item.sku_id for item in items}) != len(items):
            raise CampaignInvalid("同一 SKU 只能添加一次", field="items")
    if kind == Campaign.Kind.N_FOR_PRICE and (bundle_quantity < 2 or bundle_price_fen <= 0):
        raise CampaignInvalid("N元N件：件数至少 2，价格须大于 0", field="bundle_quantity")
    if kind == Campaign.Kind.BUY_GIFT and (buy_quantity < 1 or gift_quantity < 1):
        raise CampaignInvalid("买赠：买几件、送几件都须至少 1", field="buy_quantity")


@transaction.atomic
def campaign_create(
    *,
    name: str,
    kind: str,
    starts_at: datetime,
    ends_at: datetime,
    scope: str = Campaign.Scope.ALL,
    category_ids: Sequence[int] = (),
    product_ids: Sequence[int] = (),
    excluded_product_ids: Sequence[int] = (),
    member_level_ids: Sequence[int] = (),
    priority: int = 0,
    stack_group: str = "",
    combinable_kinds: Sequence[str] | None = None,
    stackable_with_coupons: bool = True,
    threshold_type: str = Campaign.ThresholdType.AMOUNT,
    is_repeat: bool = False,
    tiers: Sequence[TierInput] = (),
    items: Sequence[ItemInput] = (),
    bundle_quantity: int = 0,
    bundle_price_fen: int = 0,
    buy_quantity: int = 0,
    gift_quantity: int = 0,
    gift_sku_id: int | None = None,
    description: str = "",
    is_active: bool = True,
) -> Campaign:
    """A campaign with its tiers or items. combinable_kinds None: the default of its kind
    (campaign_rules.DEFAULT_COMBINABLE_KINDS).

    Raises: CampaignInvalid.
    """
    if combinable_kinds is None:
        combinable_kinds = sorted(rules.DEFAULT_COMBINABLE_KINDS.get(kind, ()))
    campaign_validate(
        kind=kind,
        starts_at=starts_at,
        ends_at=ends_at,
        scope=scope,
        category_ids=category_ids,
        product_ids=product_ids,
        combinable_kinds=combinable_kinds,
        is_repeat=is_repeat,
        tiers=tiers,
        items=items,
        bundle_quantity=bundle_quantity,
        bundle_price_fen=bundle_price_fen,
        buy_quantity=buy_quantity,
        gift_quantity=gift_quantity,
    )
    campaign = Campaign.objects.create(
        name=name,
        description=description,
        kind=kind,
        starts_at=starts_at,
        ends_at=ends_at,
        is_active=is_active,
        scope=scope,
        member_level_ids=sorted(set(member_level_ids)),
        priority=priority,
        stack_group=stack_group,
        combinable_kinds=sorted(set(combinable_kinds)),
        stackable_with_coupons=stackable_with_coupons,
        threshold_type=threshold_type,
        is_repeat=is_repeat,
        bundle_quantity=bundle_quantity,
        bundle_price_fen=bundle_price_fen,
        buy_quantity=buy_quantity,
        gift_quantity=gift_quantity,
        gift_sku_id=gift_sku_id if kind == Campaign.Kind.BUY_GIFT else None,
    )
    campaign.categories.set(category_ids)
    campaign.products.set(product_ids)
    campaign.excluded_products.set(excluded_product_ids)
    CampaignTier.objects.bulk_create(
        CampaignTier(
            campaign=campaign, threshold=t.threshold, reduce_fen=t.reduce_fen, rate_bp=t.rate_bp
        )
        for t in tiers
    )
    CampaignItem.objects.bulk_create(
        CampaignItem(
            campaign=campaign,
            sku_id=i.sku_id,
            price_fen=i.price_fen,
            rate_bp=i.rate_bp,
            limit_per_member=i.limit_per_member,
        )
        for i in items
    )
    campaigns_cache_clear()
    return campaign


@transaction.atomic
def campaign_end_early(*, campaign_id: int, now: datetime | None = None) -> bool:
    """End a campaign now (提前结束); True when it was running or not started, False when it
    had ended already (a repeat is a no-op). Orders already placed keep their discount."""
    now = now or timezone.now()
    ended = Campaign.objects.filter(
        pk=campaign_id, ended_early_at__isnull=True, ends_at__gt=now
    ).update(ended_early_at=now)
    campaigns_cache_clear()
    return bool(ended)


@transaction.atomic
def campaign_check_saved(*, campaign_id: int) -> str | None:
    """After the admin saved a campaign with its tiers/items: fill in the default
    combinable_kinds of its kind when none were given at creation (`fill_defaults`), and switch
    it off when its settings do not add up. Returns the problem (Chinese) or None."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
    tiers = [
        TierInput(t.threshold, reduce_fen=t.reduce_fen, rate_bp=t.rate_bp)
        for t in campaign.tiers.all()
    ]
    items = [
        ItemInput(
            sku_id=i.sku_id,
            price_fen=i.price_fen,
            rate_bp=i.rate_bp,
            limit_per_member=i.limit_per_member,
        )
        for i in campaign.items.all()
    ]
    try:
        campaign_validate(
            kind=campaign.kind,
            starts_at=campaign.starts_at,
            ends_at=campaign.ends_at,
            scope=campaign.scope,
            category_ids=list(campaign.categories.values_list("pk", flat=True)),
            product_ids=list(campaign.products.values_list("pk", flat=True)),
            combinable_kinds=campaign.combinable_kinds or [],
            is_repeat=campaign.is_repeat,
            tiers=tiers,
            items=items,
            bundle_quantity=campaign.bundle_quantity,
            bundle_price_fen=campaign.bundle_price_fen,
            buy_quantity=campaign.buy_quantity,
            gift_quantity=campaign.gift_quantity,
        )
    except CampaignInvalid as exc:
        Campaign.objects.filter(pk=campaign_id).update(is_active=False)
        campaigns_cache_clear()
        return exc.message
    campaigns_cache_clear()
    return None


def campaigns_cache_clear() -> None:
    """Forget the cached live snapshot now and again after the commit (a reader may have
    refilled it with the old rows meanwhile)."""
    transaction.on_commit(_snapshot_forget)
    _snapshot_forget()


def _snapshot_forget() -> None:
    global _local_copy
    _local_copy = None
    cache.delete(SNAPSHOT_CACHE_KEY)


# --- reads ---
def campaign_status(campaign: Campaign, *, now: datetime) -> str:
    """未开始 / 进行中 / 已结束 (ended early, disabled or past its end)."""
    if campaign.ended_early_at is not None or now >= campaign.ends_at:
        return "已结束"
    if not campaign.is_active:
        return "已停用"
    if now < campaign.starts_at:
        return "未开始"
    return "进行中"


def campaigns_live_queryset(*, now: datetime, horizon: timedelta = timedelta(0)) -> QuerySet:
    return Campaign.objects.filter(
        is_active=True,
        ended_early_at__isnull=True,
        ends_at__gt=now,
        starts_at__lte=now + horizon,
    )


def campaign_data_from(campaign: Campaign) -> CampaignData:
    """Needs tiers, items, categories, products and excluded_products prefetched."""
    return CampaignData(
        id=campaign.pk,
        name=campaign.name,
        kind=campaign.kind,
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        scope=campaign.scope,
        category_ids=frozenset(c.pk for c in campaign.categories.all()),
        product_ids=frozenset(p.pk for p in campaign.products.all()),
        excluded_product_ids=frozenset(p.pk for p in campaign.excluded_products.all()),
        member_level_ids=frozenset(int(x) for x in campaign.member_level_ids or ()),
        priority=campaign.priority,
        stack_group=campaign.stack_group,
        combinable_kinds=frozenset(campaign.combinable_kinds or ()),
        stackable_with_coupons=campaign.stackable_with_coupons,
        threshold_type=campaign.threshold_type,
        is_repeat=campaign.is_repeat,
        tiers=tuple(
            TierData(threshold=t.threshold, reduce_fen=t.reduce_fen, rate_bp=t.rate_bp)
            for t in campaign.tiers.all()
        ),
        items=tuple(
            ItemData(
                sku_id=i.sku_id,
                price_fen=i.price_fen,
                rate_bp=i.rate_bp,
                limit_per_member=i.limit_per_member,
            )
            for i in campaign.items.all()
        ),
        bundle_quantity=campaign.bundle_quantity,
        bundle_price_fen=campaign.bundle_price_fen,
        buy_quantity=campaign.buy_quantity,
        gift_quantity=campaign.gift_quantity,
        gift_sku_id=campaign.gift_sku_id,
    )


def campaigns_snapshot(*, now: datetime) -> tuple[CampaignData, ...]:
    """Campaigns live now (pricing, product detail), from a short-lived cache: the rows live
    now or starting within CAMPAIGN_CACHE_SECONDS, filtered by `now` on every read, so a window
    opens and closes on time. Cold: one query (plus five prefetches when some exist); warm: none.
    Services clear it on every change. Each process keeps the copy it read for
    LOCAL_COPY_SECONDS (a cache read cost as much as a small query): another process's change
    shows here within that, this process's own at once."""
    global _local_copy
    horizon = timedelta(seconds=settings.CAMPAIGN_CACHE_SECONDS)
    copy = _local_copy
    if (
        copy is None
        or time.monotonic() - copy[0] >= LOCAL_COPY_SECONDS
        or not copy[1] <= now < copy[1] + horizon
    ):
        built_at, data = _campaigns_snapshot_shared(now=now, horizon=horizon)
        copy = _local_copy = (time.monotonic(), built_at, data)
    return tuple(c for c in copy[2] if c.is_live(now))


LOCAL_COPY_SECONDS = 1.0
# (monotonic time read, built_at, rows) of this process's copy of the shared snapshot.
_local_copy: tuple[float, datetime, tuple[CampaignData, ...]] | None = None


def _campaigns_snapshot_shared(
    *, now: datetime, horizon: timedelta
) -> tuple[datetime, tuple[CampaignData, ...]]:
    cached = cache.get(SNAPSHOT_CACHE_KEY)
    if cached is not None:
        built_at, data = cached
        if built_at <= now < built_at + horizon:
            return built_at, data
    rows = campaigns_live_queryset(now=now, horizon=horizon).prefetch_related(
        "tiers", "items", "categories", "products", "excluded_products"
    )
    data = tuple(campaign_data_from(c) for c in rows)
    cache.set(SNAPSHOT_CACHE_KEY, (now, data), timeout=settings.CAMPAIGN_CACHE_SECONDS)
    return now, data


@dataclass(frozen=True)
class LimitedOffer:
    """The 限时折扣 price a line gets: from this campaign, for `units` of its units."""

    campaign: CampaignData
    special_unit_fen: int
    units: int


def limited_time_offers(
    *,
    member_id: int | None,
    level_id: int | None,
    lines: Sequence[Any],
    now: datetime,
    campaigns: Sequence[CampaignData] | None = None,
) -> dict[int, LimitedOffer]:
    """{sku_id: best 限时 offer} for lines (sku_id, quantity, unit_price_fen): the lowest total
    for the line, then priority, then the older campaign. 限购: only the units the member still
    may buy get the price (the rest pay the normal price). One query when some item has a
    limit, else none (beyond the snapshot)."""
    live = campaigns if campaigns is not None else campaigns_snapshot(now=now)
    limited = [c for c in live if c.kind == rules.LIMITED_TIME and c.is_eligible(level_id)]
    if not limited or not lines:
        return {}
    sku_ids = {line.sku_id for line in lines}
    bought: dict[tuple[int, int], int] = {}
    if member_id is not None and any(
        i.limit_per_member and i.sku_id in sku_ids for c in limited for i in c.items
    ):
        bought = {
            (campaign_id, sku_id): quantity
            for campaign_id, sku_id, quantity in CampaignPurchase.objects.filter(
                member_id=member_id, campaign_id__in=[c.id for c in limited], sku_id__in=sku_ids
            ).values_list("campaign_id", "sku_id", "quantity")
        }
    offers: dict[int, LimitedOffer] = {}
    for line in lines:
        best: tuple[tuple[int, int, int], LimitedOffer] | None = None
        for campaign in limited:
            item = campaign.item_for(line.sku_id)
            if item is None:
                continue
            special = item.unit_price_fen(line.unit_price_fen)
            units = line.quantity
            if item.limit_per_member:
                if member_id is None:
                    continue
                left = item.limit_per_member - bought.get((campaign.id, line.sku_id), 0)
                units = max(0, min(units, left))
            saving = rules.limited_time_discount_fen(
                unit_price_fen=line.unit_price_fen, special_unit_fen=special, units=units
            )
            if saving <= 0:
                continue
            score = (saving, campaign.priority, -campaign.id)
            if best is None or score > best[0]:
                best = (score, LimitedOffer(campaign, special, units))
        if best is not None:
            offers[line.sku_id] = best[1]
    return offers


def limited_time_prices_for_skus(
    *, prices: Mapping[int, int], now: datetime, level_id: int | None = None
) -> dict[int, tuple[int, datetime, int]]:
    """For the product API: {sku_id: (limited-time price, ends_at, campaign id)} of the SKUs
    (given as {sku_id: list price}) in a live 限时折扣 open to this level (anonymous: open to
    all). 限购 is not applied here (the checkout applies it). No query when the snapshot is
    cached, one otherwise."""
    found: dict[int, tuple[int, datetime, int]] = {}
    for campaign in campaigns_snapshot(now=now):
        if campaign.kind != rules.LIMITED_TIME or not campaign.is_eligible(level_id):
            continue
        for item in campaign.items:
            if item.sku_id not in prices:
                continue
            price = item.unit_price_fen(prices[item.sku_id])
            if price >= prices[item.sku_id]:
                continue
            current = found.get(item.sku_id)
            if current is None or price < current[0]:
                found[item.sku_id] = (price, campaign.ends_at, campaign.id)
    return found


def campaigns_for_shoppers(*, now: datetime) -> QuerySet[Campaign]:
    """Live campaigns for the shop's banner, highest priority first."""
    return campaigns_live_queryset(now=now).order_by("-priority", "ends_at", "id")


def campaign_stats(campaign_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """{campaign id: {"orders", "gmv_fen", "discount_fen"}} of paid orders (refunds excluded)."""
    rows = (
        CampaignUsage.objects.filter(
            campaign_id__in=list(campaign_ids), status=CampaignUsage.Status.PAID
        )
        .values("campaign_id")
        .annotate(orders=Count("id"), gmv_fen=Sum("goods_fen"), discount_fen=Sum("discount_fen"))
    )
    return {
        row["campaign_id"]: {
            "orders": row["orders"],
            "gmv_fen": row["gmv_fen"] or 0,
            "discount_fen": row["discount_fen"] or 0,
        }
        for row in rows
    }


# --- an order's campaigns ---
def campaigns_check_live(*, campaign_ids: Iterable[int], now: datetime) -> None:
    """Inside order creation: the campaigns priced into the order are still running (one may
    have been ended early since the snapshot was cached).

    Raises: PromotionUnavailable.
    """
    ids = set(campaign_ids)
    if not ids:
        return
    live = set(campaigns_live_queryset(now=now).filter(pk__in=ids).values_list("pk", flat=True))
    if live != ids:
        raise PromotionUnavailable("活动已结束，请重新确认订单", campaign_ids=sorted(ids - live))


@dataclass(frozen=True)
class UsageInput:
    campaign_id: int
    discount_fen: int
    goods_fen: int
    units: Mapping[int, int]  # {sku_id: units} taken from 限购 counters
    limits: Mapping[int, int]  # {sku_id: limit per member}


def campaign_usages_record(
    *, member_id: int, order_id: int, order_no: str, usages: Sequence[UsageInput]
) -> None:
    """Inside order creation's transaction: take the 限购 units (conditional UPDATE per
    counter) and write one usage row per campaign. A repeat for the same order is a no-op.

    Raises: CampaignPurchaseLimitReached (the order is then not created).
    """
    if not usages:
        return
    if CampaignUsage.objects.filter(
        order_id=order_id, campaign_id__in=[u.campaign_id for u in usages]
    ).exists():
        return
    for usage in usages:
        for sku_id, units in sorted(usage.units.items()):
            _purchase_take(
                member_id=member_id,
                campaign_id=usage.campaign_id,
                sku_id=sku_id,
                units=units,
                limit=usage.limits[sku_id],
            )
    CampaignUsage.objects.bulk_create(
        CampaignUsage(
            campaign_id=usage.campaign_id,
            member_id=member_id,
            order_id=order_id,
            order_no=order_no,
            discount_fen=usage.discount_fen,
            goods_fen=usage.goods_fen,
            units={str(k): v for k, v in usage.units.items()},
        )
        for usage in usages
    )


def _purchase_take(
    *, member_id: int, campaign_id: int, sku_id: int, units: int, limit: int
) -> None:
    CampaignPurchase.objects.bulk_create(
        [CampaignPurchase(member_id=member_id, campaign_id=campaign_id, sku_id=sku_id)],
        ignore_conflicts=True,
    )
    taken = CampaignPurchase.objects.filter(
        member_id=member_id, campaign_id=campaign_id, sku_id=sku_id, quantity__lte=limit - units
    ).update(quantity=F("quantity") + units)
    if not taken:
        raise CampaignPurchaseLimitReached(sku_id=sku_id, limit=limit)


def _usages_move(*, order_id: int, from_status: str, to_status: str, give_back: bool) -> int:
    moved = 0
    for usage in CampaignUsage.objects.filter(order_id=order_id, status=from_status).order_by("pk"):
        if not CampaignUsage.objects.filter(pk=usage.pk, status=from_status).update(
            status=to_status
        ):
            continue  # another transaction moved it
        moved += 1
        if give_back:
            for sku_id, units in sorted(usage.units.items()):
                CampaignPurchase.objects.filter(
                    member_id=usage.member_id,
                    campaign_id=usage.campaign_id,
                    sku_id=int(sku_id),
                    quantity__gte=units,
                ).update(quantity=F("quantity") - units)
    return moved


def campaign_usages_release(*, order_id: int) -> int:
    """An unpaid order was cancelled or expired (in the winner's transaction): its 限购 units
    come back. Safe to run twice."""
    return _usages_move(
        order_id=order_id,
        from_status=CampaignUsage.Status.PENDING,
        to_status=CampaignUsage.Status.CANCELLED,
        give_back=True,
    )


def campaign_usages_mark_paid(*, order_id: int) -> int:
    """In the pending → paid transaction: the order counts in the campaign's figures."""
    return _usages_move(
        order_id=order_id,
        from_status=CampaignUsage.Status.PENDING,
        to_status=CampaignUsage.Status.PAID,
        give_back=False,
    )


def campaign_usages_mark_refunded(*, order_id: int) -> int:
    """The order was refunded in full: out of the figures, and its 限购 units come back."""
    return _usages_move(
        order_id=order_id,
        from_status=CampaignUsage.Status.PAID,
        to_status=CampaignUsage.Status.REFUNDED,
        give_back=True,
    )
