"""Address writes. A member with addresses always has exactly one default."""

from __future__ import annotations

from django.db import transaction

from mall.errors import AddressLimitReached
from members.models import Member

from ..models import Address
from .cart import member_lock


def _default_move_to_newest(*, member: Member, excluding_id: int | None = None) -> None:
    newest = (
        Address.objects.filter(member=member)
        .exclude(pk=excluding_id)
        .order_by("-updated_at", "-id")
        .first()
    )
    if newest is not None:
        Address.objects.filter(pk=newest.pk).update(is_default=True)


@transaction.atomic
def address_create(
    *,
    member: Member,
    name: str,
    phone: str,
    province: str,
    city: str,
    district: str,
    detail: str,
    is_default: bool = False,
) -> Address:
    """The first address becomes the default; a new default unsets the old one.

    Raises: AddressLimitReached, django ValidationError (phone, lengths).
    """
    member_lock(member=member)
    count = Address.objects.filter(member=member).count()
    if count >= Address.MAX_PER_MEMBER:
        raise AddressLimitReached(limit=Address.MAX_PER_MEMBER)
    address = Address(
        member=member,
        name=name,
        phone=phone,
        province=province,
        city=city,
        district=district,
        detail=detail,
        is_default=is_default or count == 0,
    )
    address.full_clean(exclude=["member"])
    if address.is_default:
        Address.objects.filter(member=member, is_default=True).update(is_default=False)
    address.save()
    return address


@transaction.atomic
def address_update(
    *,
    member: Member,
    address_id: int,
    name: str | None = None,
    phone: str | None = None,
    province: str | None = None,
    city: str | None = None,
    district: str | None = None,
    detail: str | None = None,
    is_default: bool | None = None,
) -> Address:
    """Raises: Address.DoesNotExist (not the member's), django ValidationError."""
    member_lock(member=member)
    address = Address.objects.get(pk=address_id, member=member)
    changes = {
        "name": name,
        "phone": phone,
        "province": province,
        "city": city,
        "district": district,
        "detail": detail,
    }
    for field_name, value in changes.items():
        if value is not None:
            setattr(address, field_name, value)
    address.full_clean(exclude=["member"])
    if is_default and not address.is_default:
        Address.objects.filter(member=member, is_default=True).update(is_default=False)
        address.is_default = True
    elif (
        is_default is False
        and address.is_default
        and Address.objects.filter(member=member).exclude(pk=address.pk).exists()
    ):
        # Unsetting the default hands it to the newest other address.
        address.is_default = False
        address.save()
        _default_move_to_newest(member=member, excluding_id=address.pk)
        return address
    address.save()
    return address


@transaction.atomic
def address_delete(*, member: Member, address_id: int) -> None:
    """Deleting the default makes the newest remaining address the default.

    Raises: Address.DoesNotExist.
    """
    member_lock(member=member)
    address = Address.objects.get(pk=address_id, member=member)
    address.delete()
    if address.is_default:
        _default_move_to_newest(member=member)
