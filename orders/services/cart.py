"""Cart writes. Each member's cart writes are serialised on the member row (no lost merges)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from catalog.models import Sku
from catalog.selectors import sku_get
from mall.errors import CartFull, DomainError, OutOfStock, ProductUnavailable
from members.models import Member
from members.services import member_lock as member_row_lock

from ..models import CartItem, Order
from ..selectors import SKU_RELATED, sku_is_available


def member_lock(*, member: Member) -> None:
    """Lock the member row: serialises one member's cart, address and order writes.
    Caller must be inside transaction.atomic().

    Raises: Member.DoesNotExist."""
    if not member_row_lock(member_id=member.pk):
        raise Member.DoesNotExist(f"member {member.pk}")


def _sku_for_cart(sku_id: int) -> Sku:
    sku = sku_get(sku_id=sku_id, related=SKU_RELATED)
    if sku is None or not sku_is_available(sku):
        raise ProductUnavailable(sku_id=sku_id)
    return sku


@transaction.atomic
def cart_item_add(*, member: Member, sku_id: int, quantity: int, selected: bool = True) -> CartItem:
    """Add a SKU, merging with the line already in the cart (the price seen now is remembered).

    Raises: ProductUnavailable, OutOfStock, CartFull.
    """
    member_lock(member=member)
    sku = _sku_for_cart(sku_id)
    item = CartItem.objects.filter(member=member, sku_id=sku_id).first()
    total = (item.quantity if item else 0) + quantity
    if total > sku.stock:
        raise OutOfStock(sku_id=sku_id, requested=total, available=sku.stock)
    if item is None:
        if CartItem.objects.filter(member=member).count() >= settings.CART_MAX_ITEMS:
            raise CartFull(limit=settings.CART_MAX_ITEMS)
        item = CartItem.objects.create(
            member=member,
            sku=sku,
            quantity=total,
            selected=selected,
            added_price_fen=sku.price_fen,
        )
    else:
        item.quantity, item.selected, item.added_price_fen = total, selected, sku.price_fen
        item.save(update_fields=["quantity", "selected", "added_price_fen", "updated_at"])
    item.sku = sku
    return item


@transaction.atomic
def cart_item_update(
    *,
    member: Member,
    item_id: int,
    quantity: int | None = None,
    selected: bool | None = None,
) -> CartItem:
    """Change a line's quantity or selection.

    Raises: CartItem.DoesNotExist (not the member's), OutOfStock (more than the stock).
    """
    member_lock(member=member)
    item = CartItem.objects.select_related(*(f"sku__{p}" for p in SKU_RELATED)).get(
        pk=item_id, member=member
    )
    if quantity is not None:
        if quantity > item.quantity and quantity > item.sku.stock:
            raise OutOfStock(sku_id=item.sku_id, requested=quantity, available=item.sku.stock)
        item.quantity = quantity
    if selected is not None:
        item.selected = selected
    item.save(update_fields=["quantity", "selected", "updated_at"])
    return item


def cart_item_delete(*, member: Member, item_id: int) -> None:
    """Raises: CartItem.DoesNotExist."""
    deleted, _ = CartItem.objects.filter(pk=item_id, member=member).delete()
    if not deleted:
        raise CartItem.DoesNotExist()


@dataclass
class BuyAgainResult:
    added: list[int] = field(default_factory=list)
    unavailable: list[dict[str, object]] = field(default_factory=list)


def order_buy_again(*, member: Member, order_id: int) -> BuyAgainResult:
    """Put an order's lines back in the cart; lines that cannot be bought now are reported."""
    order = Order.objects.get(pk=order_id, member=member)
    result = BuyAgainResult()
    for line in order.lines.order_by("id"):
        try:
            cart_item_add(member=member, sku_id=line.sku_id, quantity=line.quantity)
        except (ProductUnavailable, OutOfStock, CartFull) as exc:
            result.unavailable.append(_unavailable(line.sku_id, line.title, exc))
        else:
            result.added.append(line.sku_id)
    return result


def _unavailable(sku_id: int, title: str, exc: DomainError) -> dict[str, object]:
    return {"sku_id": sku_id, "title": title, "code": exc.code, "message": exc.message}
