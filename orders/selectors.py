"""Reads of the orders app, scoped to the caller, with their joins done (a fixed query count)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.db.models import (
    Count,
    Expression,
    F,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce

from catalog.models import Sku
from catalog.selectors import sku_get, sku_sale_rows
from mall.discounts import PricingChoices
from mall.errors import (
    CartEmpty,
    CouponUnavailable,
    DeliveryUnavailable,
    OutOfStock,
    ProductUnavailable,
    PromotionUnavailable,
)
from members.models import Member
from members.points import points_rule_get

from . import discount_providers, sql
from .models import (
    Address,
    CartItem,
    Order,
    OrderLine,
    OrderStatus,
    OrderStatusLog,
    PickupPoint,
)
from .pricing import (
    CheckoutRequest,
    DeliveryChoice,
    DeliveryInfo,
    FreightRuleData,
    FreightTemplateData,
    LineInput,
    LoadedDiscount,
    PricingInputs,
    PricingLine,
    PromotionChoice,
    Quote,
    price_cart,
)

# --- SKUs as the shop sells them ---
SKU_RELATED = ("product__category__parent__parent",)


def sku_is_available(sku: Sku) -> bool:
    """On the shelf, active, and not hidden by its category or an ancestor category.
    Needs `SKU_RELATED` loaded (no query)."""
    if not (sku.is_active and sku.product.is_on_shelf):
        return False
    category = sku.product.category
    while category is not None:
        if not category.is_visible:
            return False
        category = category.parent
    return True


def sku_spec_text(sku: Sku) -> str:
    """ "颜色:红 尺码:M" in the product's dimension order (spec_key keeps it; jsonb does not)."""
    if sku.spec_key:
        return sku.spec_key.replace("|", " ")
    return " ".join(f"{name}:{value}" for name, value in (sku.specs or {}).items())


def sku_category_ids(sku: Sku) -> tuple[int, ...]:
    """The product's category and its ancestors, nearest first (needs `SKU_RELATED`)."""
    ids = []
    category = sku.product.category
    while category is not None:
        ids.append(category.pk)
        category = category.parent
    return tuple(ids)


def sku_image_url(sku: Sku) -> str:
    for image in (sku.image, sku.product.main_image_thumb, sku.product.main_image):
        if image:
            return image.url
    return ""


@dataclass(frozen=True)
class SkuForSale:
    """A SKU as pricing and the order snapshot see it (read by skus_for_sale)."""

    id: int
    product_id: int
    price_fen: int
    stock: int
    weight_g: int
    available: bool  # sku_is_available
    title: str
    spec_text: str
    image_url: str
    category_ids: tuple[int, ...]  # the product's category and its ancestors, nearest first


def skus_for_sale(*, sku_ids: Sequence[int]) -> dict[int, SkuForSale]:
    """The SKUs by id (an unknown id is left out), in one query."""
    ids = list(dict.fromkeys(sku_ids))
    if not ids:
        return {}
    rows = sku_sale_rows(sku_ids=ids)
    return {row[0]: _sku_for_sale(row) for row in rows}


def _sku_for_sale(row: tuple[Any, ...]) -> SkuForSale:
    (sku_id, product_id, price_fen, stock, weight_g, is_active, spec_key, specs, image, title,
     on_shelf, main_image, main_image_thumb, *categories) = row  # fmt: skip
    c1, c1_visible, c2, c2_visible, c3, c3_visible, c3_parent = categories
    if c3_parent is not None:  # deeper than Category.MAX_DEPTH: judge it the ORM's way
        sku = sku_get(sku_id=sku_id, related=("product__category",))
        if sku is None:
            raise Sku.DoesNotExist(f"sku {sku_id}")
        available, category_ids = sku_is_available(sku), sku_category_ids(sku)
    else:
        available = bool(is_active and on_shelf) and all(
            visible for visible in (c1_visible, c2_visible, c3_visible) if visible is not None
        )
        category_ids = tuple(c for c in (c1, c2, c3) if c is not None)
    if not spec_key and specs:
        specs = json.loads(specs) if isinstance(specs, str) else specs
        spec_key = "|".join(f"{name}:{value}" for name, value in specs.items())
    return SkuForSale(
        id=sku_id,
        product_id=product_id,
        price_fen=price_fen,
        stock=stock,
        weight_g=weight_g,
        available=available,
        title=title,
        spec_text=spec_key.replace("|", " "),
        image_url=_image_url(image or main_image_thumb or main_image),
        category_ids=category_ids,
    )


def _image_url(name: str) -> str:
    return _image_storage().url(name) if name else ""


@cache
def _image_storage() -> Any:
    return Sku._meta.get_field("image").storage


# --- cart ---
@dataclass(frozen=True)
class CartLineView:
    item: CartItem
    state: str  # ok | off_shelf | sold_out | insufficient_stock

    @property
    def price_changed(self) -> bool:
        return self.item.sku.price_fen != self.item.added_price_fen


@dataclass(frozen=True)
class CartView:
    lines: tuple[CartLineView, ...]
    selected_count: int
    selected_quantity: int
    selected_goods_fen: int


def cart_line_state(item: CartItem) -> str:
    if not sku_is_available(item.sku):
        return "off_shelf"
    if item.sku.stock == 0:
        return "sold_out"
    if item.sku.stock < item.quantity:
        return "insufficient_stock"
    return "ok"


def cart_items_for_member(*, member: Member) -> QuerySet[CartItem]:
    return CartItem.objects.filter(member=member).select_related(
        *(f"sku__{path}" for path in SKU_RELATED)
    )


def cart_view_for_member(*, member: Member) -> CartView:
    """The cart with each line's state and the totals of the selected lines that can be bought."""
    lines = tuple(
        CartLineView(item=item, state=cart_line_state(item))
        for item in cart_items_for_member(member=member)
    )
    buyable = [line.item for line in lines if line.item.selected and line.state == "ok"]
    return CartView(
        lines=lines,
        selected_count=len(buyable),
        selected_quantity=sum(item.quantity for item in buyable),
        selected_goods_fen=sum(item.sku.price_fen * item.quantity for item in buyable),
    )


def cart_checkout_lines(*, member: Member) -> tuple[LineInput, ...]:
    """The selected cart lines, oldest first. Raises: CartEmpty."""
    lines = tuple(
        LineInput(sku_id=sku_id, quantity=quantity)
        for sku_id, quantity in CartItem.objects.filter(member=member, selected=True)
        .order_by("created_at", "id")
        .values_list("sku_id", "quantity")
    )
    if not lines:
        raise CartEmpty()
    return lines


# --- addresses and pickup points ---
def address_list_for_member(*, member: Member) -> QuerySet[Address]:
    return Address.objects.filter(member=member)


def pickup_point_list() -> QuerySet[PickupPoint]:
    return PickupPoint.objects.filter(is_active=True)


# --- pricing ---
def merge_lines(lines: Sequence[LineInput]) -> tuple[LineInput, ...]:
    """One line per SKU, in first-seen order."""
    merged: dict[int, int] = {}
    for line in lines:
        merged[line.sku_id] = merged.get(line.sku_id, 0) + line.quantity
    return tuple(LineInput(sku_id=sku_id, quantity=qty) for sku_id, qty in merged.items())


def pricing_inputs_load(
    *,
    member: Member,
    lines: Sequence[LineInput],
    delivery: DeliveryChoice,
    coupon_id: int | None,
    points: int,
    balance_fen: int,
    promotion: PromotionChoice | None,
    now: datetime,
) -> PricingInputs:
    """Everything price_cart needs, in a fixed number of queries (1 for SKUs, 1 for the address
    or pickup point, 1 for freight templates when express, plus what each discount provider
    loads).

    Raises: ProductUnavailable, OutOfStock (fewer units than asked right now; the reservation at
    order creation is the judge), DeliveryUnavailable, CouponUnavailable / PromotionUnavailable
    (no provider judges the choice) and what the providers raise.
    """
    lines = merge_lines(lines)
    skus = skus_for_sale(sku_ids=[line.sku_id for line in lines])
    for line in lines:
        sku = skus.get(line.sku_id)
        if sku is None or not sku.available:
            raise ProductUnavailable(sku_id=line.sku_id)

    delivery_info = _delivery_info(member=member, delivery=delivery)
    product_ids = {skus[line.sku_id].product_id for line in lines}
    templates: tuple[FreightTemplateData, ...] = ()
    default_template_id: int | None = None
    template_of_product: dict[int, int] = {}
    if delivery_info.type == "express":
        templates, default_template_id, template_of_product = _freight_templates_load(product_ids)

    pricing_lines = tuple(
        PricingLine(
            sku_id=sku.id,
            product_id=sku.product_id,
            quantity=line.quantity,
            unit_price_fen=sku.price_fen,
            weight_g=sku.weight_g,
            freight_template_id=template_of_product.get(sku.product_id),
            title=sku.title,
            spec_text=sku.spec_text,
            image_url=sku.image_url,
            category_ids=sku.category_ids,
        )
        for line, sku in ((line, skus[line.sku_id]) for line in lines)
    )
    choices = PricingChoices(
        coupon_id=coupon_id,
        points=points,
        promotion_kind=promotion.kind if promotion else None,
        promotion_id=promotion.id if promotion else None,
    )
    providers = discount_providers.DISCOUNT_PROVIDERS
    _choices_check_judged(choices, providers)
    discounts = tuple(
        LoadedDiscount(
            provider=provider,
            loaded=provider.load(member=member, lines=pricing_lines, now=now, choices=choices),
        )
        for provider in providers
    )
    pricing_lines += _gift_lines_load(discounts, pricing_lines)
    # Units a promotion holds in its own pool (a flash sale) are not taken from the SKU's stock.
    held = stock_held_skus(discounts)
    for line in lines:  # the asked lines (gifts were capped by their stock when added)
        sku = skus[line.sku_id]
        if line.sku_id not in held and sku.stock < line.quantity:
            raise OutOfStock(sku_id=line.sku_id, requested=line.quantity, available=sku.stock)
    return PricingInputs(
        lines=pricing_lines,
        delivery=delivery_info,
        freight_templates=templates,
        default_freight_template_id=default_template_id,
        discounts=discounts,
        coupon_id=coupon_id,
        points=points,
        balance_fen=balance_fen,
        promotion=promotion,
        member_points_balance=member.points_balance,
        member_balance_fen=member.balance_fen,
        points_rule=points_rule_get(),
    )


def _gift_lines_load(
    discounts: Sequence[LoadedDiscount], lines: Sequence[PricingLine]
) -> tuple[PricingLine, ...]:
    """The providers' free gifts (买赠 of another SKU) as lines at price 0: only while the gift
    is on sale, and no more units than its stock has left (赠完即止). One query when any."""
    gifts = []
    for loaded in discounts:
        method = getattr(loaded.provider, "gift_lines", None)
        if method is not None:
            gifts.extend(method(loaded=loaded.loaded, lines=lines))
    if not gifts:
        return ()
    skus = skus_for_sale(sku_ids=[gift.sku_id for gift in gifts])
    added = []
    for gift in gifts:
        sku = skus.get(gift.sku_id)
        if sku is None or not sku.available:
            continue
        bought = sum(line.quantity for line in lines if line.sku_id == gift.sku_id)
        quantity = min(gift.quantity, sku.stock - bought)  # the bought units come first
        if quantity <= 0:
            continue
        added.append(
            PricingLine(
                sku_id=gift.sku_id,
                product_id=sku.product_id,
                quantity=quantity,
                unit_price_fen=0,
                weight_g=sku.weight_g,
                freight_template_id=None,
                title=f"【赠品】{sku.title}",
                spec_text=sku.spec_text,
                image_url=sku.image_url,
                category_ids=sku.category_ids,
                gift_ref=gift.ref,
            )
        )
    return tuple(added)


def _choices_check_judged(choices: PricingChoices, providers: Sequence[Any]) -> None:
    """A coupon or promotion that no provider judges cannot be used (rather than be ignored)."""
    if choices.coupon_id and not any(getattr(p, "handles_coupons", False) for p in providers):
        raise CouponUnavailable(coupon_id=choices.coupon_id)
    if choices.promotion_kind is not None and not any(
        choices.promotion_kind in getattr(p, "promotion_kinds", ()) for p in providers
    ):
        raise PromotionUnavailable(kind=choices.promotion_kind, id=choices.promotion_id)


def stock_held_skus(discounts: Sequence[LoadedDiscount]) -> dict[int, str]:
    """{sku_id: provider key} of the lines whose units a provider reserves from its own pool."""
    held: dict[int, str] = {}
    for loaded in discounts:
        method = getattr(loaded.provider, "stock_held_skus", None)
        if method is not None:
            for sku_id in method(loaded=loaded.loaded):
                held.setdefault(sku_id, loaded.provider.key)
    return held


def _delivery_info(*, member: Member, delivery: DeliveryChoice) -> DeliveryInfo:
    if delivery.pickup_point_id is not None:
        if not PickupPoint.objects.filter(pk=delivery.pickup_point_id, is_active=True).exists():
            raise DeliveryUnavailable(
                "自提点已停用或不存在", pickup_point_id=delivery.pickup_point_id
            )
        return DeliveryInfo(type="pickup", pickup_point_id=delivery.pickup_point_id)
    address = sql.address_for_member(address_id=delivery.address_id, member_id=member.pk)
    if address is None:
        raise DeliveryUnavailable("收货地址不存在", address_id=delivery.address_id)
    return DeliveryInfo(type="express", province=address.province, address=address.as_snapshot())


def _freight_templates_load(
    product_ids: set[int],
) -> tuple[tuple[FreightTemplateData, ...], int | None, dict[int, int]]:
    """The templates pricing may use, the default one's id, and {product id: its template}."""
    rows = sql.freight_rows(product_ids=product_ids)
    heads: dict[int, tuple[str, str, int | None]] = {}
    rules: dict[int, list[FreightRuleData]] = {}
    template_of_product: dict[int, int] = {}
    default_id: int | None = None
    for template_id, name, charge_by, free_over_fen, is_default, products, rule_id, *rule in rows:
        if template_id not in heads:  # rows come by template id: the oldest template wins
            heads[template_id] = (name, charge_by, free_over_fen)
            rules[template_id] = []
            if is_default:
                default_id = template_id
            for product_id in products:
                template_of_product.setdefault(product_id, template_id)
        if rule_id is not None:
            regions, first_units, first_fee_fen, extra_units, extra_fee_fen = rule
            rules[template_id].append(
                FreightRuleData(
                    regions=tuple(json.loads(regions) or ()),
                    first_units=first_units,
                    first_fee_fen=first_fee_fen,
                    extra_units=extra_units,
                    extra_fee_fen=extra_fee_fen,
                )
            )
    data = tuple(
        FreightTemplateData(
            id=template_id,
            name=name,
            charge_by=charge_by,
            free_over_fen=free_over_fen,
            rules=tuple(rules[template_id]),
        )
        for template_id, (name, charge_by, free_over_fen) in heads.items()
    )
    return data, default_id, template_of_product


def checkout_quote(
    *, member: Member, checkout: CheckoutRequest, now: datetime
) -> tuple[PricingInputs, Quote]:
    """The quote the checkout preview shows and order creation charges.

    Raises: CartEmpty, ProductUnavailable, OutOfStock, DeliveryUnavailable and price_cart's errors.
    """
    lines = cart_checkout_lines(member=member) if checkout.from_cart else checkout.lines
    inputs = pricing_inputs_load(
        member=member,
        lines=lines,
        delivery=checkout.delivery,
        coupon_id=checkout.coupon_id,
        points=checkout.points,
        balance_fen=checkout.balance_fen,
        promotion=checkout.promotion,
        now=now,
    )
    return inputs, price_cart(inputs)


# --- orders ---
# Shopper's tabs: 待付款 / 待发货 / 待收货 / 已完成 (received and completed alike).
ORDER_TABS: dict[str, tuple[str, ...]] = {
    "pending_payment": (OrderStatus.PENDING_PAYMENT,),
    "paid": (OrderStatus.PAID,),
    "shipped": (OrderStatus.SHIPPED,),
    "completed": (OrderStatus.RECEIVED, OrderStatus.COMPLETED),
    "received": (OrderStatus.RECEIVED,),
    "cancelled": (OrderStatus.CANCELLED,),
    "closed": (OrderStatus.CLOSED,),
}
COUNTED_TABS = ("pending_payment", "paid", "shipped", "completed")


def order_list_for_member(*, member: Member, status: str | None = None) -> QuerySet[Order]:
    """Newest first, without the orders the shopper deleted; lines prefetched."""
    orders = Order.objects.filter(member=member, is_deleted_by_member=False)
    if status:
        orders = orders.filter(status__in=ORDER_TABS[status])
    return orders.order_by("-created_at", "-id").prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.order_by("id"))
    )


def order_counts_for_member(*, member: Member) -> dict[str, int]:
    """How many orders each tab holds, in one query."""
    counts: dict[str, Any] = Order.objects.filter(
        member=member, is_deleted_by_member=False
    ).aggregate(**{tab: Count("pk", filter=Q(status__in=ORDER_TABS[tab])) for tab in COUNTED_TABS})
    return {tab: int(counts[tab]) for tab in COUNTED_TABS}


def order_get_for_member(*, member: Member, no: str) -> Order:
    """Raises: Order.DoesNotExist (also for another member's order: the API answers 404)."""
    return (
        Order.objects.filter(member=member, no=no, is_deleted_by_member=False)
        .select_related("pickup_point")
        .prefetch_related(
            Prefetch("lines", queryset=OrderLine.objects.order_by("id")),
            Prefetch("status_logs", queryset=OrderStatusLog.objects.order_by("id")),
        )
        .get()
    )


# --- orders as the member lifecycle (shop.lifecycle), recommendations and the admins read them ---
# Orders that count as bought: paid, and not cancelled nor fully refunded (closed).
PAID_STATUSES: tuple[str, ...] = tuple(
    status.value
    for status in (
        OrderStatus.PAID,
        OrderStatus.SHIPPED,
        OrderStatus.RECEIVED,
        OrderStatus.COMPLETED,
    )
)
RECEIVED_STATUSES: tuple[str, ...] = (OrderStatus.RECEIVED.value, OrderStatus.COMPLETED.value)


@dataclass(frozen=True)
class ReplenishDueLine:
    line_id: int
    member_id: int
    rule_id: int
    product_id: int
    title: str


def order_lines_due_for_replenish(
    *,
    rules: Sequence[tuple[int, int, int, int]],
    now: datetime,
    lookback_days: int,
    after_line_id: int,
    limit: int,
) -> list[ReplenishDueLine]:
    """The next `limit` lines (in line id order, after `after_line_id`) of received orders that
    a replenish rule ((rule id, product id, cycle days, priority); of the rules of a line's
    product, the lowest priority then rule id wins) makes due now: received between cycle_days
    and cycle_days + lookback_days ago, not all refunded, not bought again since. One query;
    [] without rules."""
    if not rules:
        return []
    cycles = [rule[2] for rule in rules]
    rows = sql.order_lines_replenish_due(
        rules=rules,
        received_statuses=RECEIVED_STATUSES,
        paid_statuses=PAID_STATUSES,
        now=now,
        lookback_days=lookback_days,
        oldest=now - timedelta(days=max(cycles) + lookback_days),
        newest=now - timedelta(days=min(cycles)),
        after_line_id=after_line_id,
        limit=limit,
    )
    return [ReplenishDueLine(*row) for row in rows]


def members_last_paid_order_before(
    *, member_id_after: int, member_id_upto: int, before: datetime
) -> list[tuple[int, int]]:
    """(member id, id of their last paid order) of the members in the id range
    (member_id_after, member_id_upto] whose last paid order was paid before `before` (active
    or not: members.selectors.member_ids_active tells)."""
    return sql.orders_last_paid_before(
        member_id_after=member_id_after,
        member_id_upto=member_id_upto,
        paid_statuses=PAID_STATUSES,
        before=before,
    )


def order_member_id_max() -> int:
    """The highest member id with an order (0 without orders): the end of a walk by member id."""
    return Order.objects.aggregate(last=Max("member_id"))["last"] or 0


def member_paid_orders_count(*, member_id: int) -> int:
    return Order.objects.filter(member_id=member_id, status__in=PAID_STATUSES).count()


def orders_payable_and_breakdown(*, order_ids: Iterable[int]) -> dict[int, tuple[int, dict]]:
    """{order id: (payable fen, stored price breakdown)} of these orders; one query."""
    rows = Order.objects.filter(pk__in=set(order_ids)).values_list("pk", "payable_fen", "breakdown")
    return {pk: (payable_fen, breakdown or {}) for pk, payable_fen, breakdown in rows}


@dataclass(frozen=True)
class MemberPurchaseStats:
    member_id: int
    last_paid_at: datetime
    paid_fen: int  # Σ payable of the bought orders


def member_purchase_stats(
    *, member_id_after: int, member_id_upto: int
) -> list[MemberPurchaseStats]:
    """The purchase stats of the members with member_id_after < id ≤ member_id_upto who bought
    anything (one grouped query; members without a row bought nothing)."""
    rows = (
        Order.objects.filter(
            member_id__gt=member_id_after,
            member_id__lte=member_id_upto,
            status__in=PAID_STATUSES,
            paid_at__isnull=False,
        )
        .order_by()
        .values("member_id")
        .annotate(last_paid_at=Max("paid_at"), paid_fen=Sum("payable_fen"))
        .values_list("member_id", "last_paid_at", "paid_fen")
    )
    return [MemberPurchaseStats(*row) for row in rows]


def order_nos_completed(*, order_nos: Sequence[str]) -> set[str]:
    """Which of these orders are completed (past their after-sales window)."""
    return set(
        Order.objects.filter(no__in=order_nos, status=OrderStatus.COMPLETED).values_list(
            "no", flat=True
        )
    )


@dataclass(frozen=True)
class FirstPaidOrder:
    no: str
    status: str
    received_at: datetime | None


def member_first_paid_orders(*, member_ids: Sequence[int]) -> dict[int, FirstPaidOrder]:
    """Each member's first paid order (by payment time), for those who paid one (one query)."""
    rows = (
        Order.objects.filter(member_id__in=member_ids, paid_at__isnull=False)
        .order_by("member_id", "paid_at", "id")
        .distinct("member_id")
        .values_list("member_id", "no", "status", "received_at")
    )
    return {
        member_id: FirstPaidOrder(no=no, status=status, received_at=received_at)
        for member_id, no, status, received_at in rows
    }


def member_bought_totals_annotations() -> dict[str, Expression]:
    """Annotations of a Member queryset: orders_count and spend_fen of the bought orders (two
    correlated subqueries, so a member list can sort by them)."""

    def bought(value: Any) -> Coalesce:
        orders = (
            Order.objects.filter(member=OuterRef("pk"), status__in=PAID_STATUSES)
            .order_by()
            .values("member")
        )
        subquery = Subquery(orders.annotate(v=value).values("v")[:1], output_field=IntegerField())
        return Coalesce(subquery, 0)

    return {"orders_count": bought(Count("pk")), "spend_fen": bought(Sum("payable_fen"))}


# --- orders as payments read and lock them (pay, settle, refund) ---
def order_lock_for_payment(*, member: Member, no: str) -> Order:
    """Lock the member's order `no` (its row only) for a payment to start.

    Raises: Order.DoesNotExist (not this member's order)."""
    return Order.objects.select_for_update(of=("self",)).get(no=no, member=member)


def order_lock_for_refund(*, order_id: int) -> Order:
    """Lock the order (its row only): it serialises the refunds of one order.

    Raises: Order.DoesNotExist."""
    return Order.objects.select_for_update(of=("self",)).get(pk=order_id)


def order_lines_lock_for_refund(*, order_id: int) -> list[OrderLine]:
    """Lock the order's lines, in id order (the order's lock is taken first)."""
    return list(OrderLine.objects.select_for_update().filter(order_id=order_id).order_by("pk"))


def order_get_for_payment(*, member: Member, no: str) -> Order:
    """The member's order `no`, deleted by the shopper or not (paying it goes on).

    Raises: Order.DoesNotExist (not this member's order)."""
    return Order.objects.get(no=no, member=member)


def order_get_for_expiry(*, order_id: int) -> Order | None:
    """The order with its status and deadline only (None: no such order)."""
    return Order.objects.filter(pk=order_id).only("status", "expires_at").first()


def order_get_for_balance_spend(*, order_id: int) -> Order:
    """The order with its no, member and the stored value it took only."""
    return Order.objects.only("no", "member_id", "balance_fen").get(pk=order_id)


def order_no_get(*, order_id: int) -> str | None:
    """The order's no (None: no such order)."""
    return Order.objects.filter(pk=order_id).values_list("no", flat=True).first()


def order_status_get(*, order_id: int) -> str:
    """The order's status as it is now. Raises: Order.DoesNotExist."""
    return Order.objects.filter(pk=order_id).values_list("status", flat=True).get()


def order_no_and_status_get(*, order_id: int) -> tuple[str, str]:
    """The order's (no, status). Raises: Order.DoesNotExist."""
    return Order.objects.values_list("no", "status").get(pk=order_id)


def order_member_id_get(*, order_id: int) -> int:
    """The order's member id. Raises: Order.DoesNotExist."""
    return Order.objects.values_list("member_id", flat=True).get(pk=order_id)


def order_line_titles(*, order_id: int, limit: int) -> list[str]:
    """The titles of the order's first `limit` lines (the payment's trade body names them)."""
    return list(
        OrderLine.objects.filter(order_id=order_id)
        .order_by("id")
        .values_list("title", flat=True)[:limit]
    )


def order_lines_list(*, order_id: int) -> list[OrderLine]:
    """The order's lines, in id order."""
    return list(OrderLine.objects.filter(order_id=order_id).order_by("id"))


def order_lines_unrefunded_exist(*, order_id: int) -> bool:
    """Whether any line of the order still has units not refunded."""
    return OrderLine.objects.filter(order_id=order_id, refunded_quantity__lt=F("quantity")).exists()


def orders_first_line_titles(*, order_ids: Sequence[int]) -> dict[int, str]:
    """{order id: the title of its first line} of these orders (one query)."""
    titles: dict[int, str] = {}
    for order_id, title in (
        OrderLine.objects.filter(order_id__in=order_ids)
        .order_by("order_id", "id")
        .values_list("order_id", "title")
    ):
        titles.setdefault(order_id, title)
    return titles


def orders_paid_for_messages(*, order_ids: Sequence[int]) -> list[dict[str, Any]]:
    """The paid ones of these orders (a payment refunded instead has no paid_at) as the "paid"
    message needs them: pk, no, member_id, payable_fen, paid_at (one query)."""
    return list(
        Order.objects.filter(pk__in=order_ids, paid_at__isnull=False).values(
            "pk", "no", "member_id", "payable_fen", "paid_at"
        )
    )


def order_ids_paid_effects_due(*, paid_before: datetime, limit: int) -> list[int]:
    """Paid orders whose effects are not applied yet, paid at or before `paid_before`, oldest
    payment first, at most `limit`."""
    return list(
        Order.objects.filter(
            paid_at__isnull=False, paid_effects_at__isnull=True, paid_at__lte=paid_before
        )
        .order_by("paid_at")
        .values_list("pk", flat=True)[:limit]
    )


# --- the admin dashboard's figures ---
def orders_dashboard_figures(*, since: datetime) -> dict[str, int]:
    """What needs the merchant's attention, in one query: orders paid since `since` (count and
    gmv_fen of the bought ones), paid orders to ship and to pick up, orders pending payment."""
    paid_since = Q(paid_at__gte=since, status__in=PAID_STATUSES)
    figures = Order.objects.aggregate(
        paid=Count("id", filter=paid_since),
        gmv_fen=Sum("payable_fen", filter=paid_since),
        to_ship=Count(
            "id", filter=Q(status=OrderStatus.PAID, delivery_type=Order.DeliveryType.EXPRESS)
        ),
        to_pickup=Count(
            "id", filter=Q(status=OrderStatus.PAID, delivery_type=Order.DeliveryType.PICKUP)
        ),
        pending_payment=Count("id", filter=Q(status=OrderStatus.PENDING_PAYMENT)),
    )
    return {name: value or 0 for name, value in figures.items()}
