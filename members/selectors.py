"""Reads of the members app for other apps' batch jobs."""

from collections.abc import Iterable

from .models import Member


def member_id_max() -> int:
    """The highest member id (0 without members): batch jobs walk member-id ranges up to it."""
    return Member.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def member_count() -> int:
    return Member.objects.count()


def member_ids_active(*, member_ids: Iterable[int]) -> set[int]:
    """Those of these members that are active (not disabled). One query."""
    return set(
        Member.objects.filter(pk__in=list(member_ids), is_active=True).values_list("pk", flat=True)
    )


def member_balance_fen_get(*, member_id: int) -> int:
    """The member's stored-value balance as it is now. Raises: Member.DoesNotExist."""
    return Member.objects.values_list("balance_fen", flat=True).get(pk=member_id)
