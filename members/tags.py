"""Member tags: manual assignment, and applying the automatic tags, set-based per member-id
range, from purchase stats the caller brings (shop.lifecycle.member_tags reads them from orders):

- new          registered within TAG_NEW_DAYS
- active_30d   a paid order within TAG_ACTIVE_DAYS
- dormant_90d  has paid orders, the last one more than TAG_DORMANT_DAYS ago
- high_value   paid amount (orders not fully refunded) ≥ TAG_HIGH_VALUE_FEN
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from mall.errors import TagNotManual

from . import sql
from .models import MemberTag, Tag
from .subscribe_messages import subscribe_messages_queue_many

AUTO_TAG_NAMES = dict(Tag.AutoCode.choices)


def tags_auto_ensure() -> dict[str, int]:
    """The automatic tags exist (created on first use); returns code → tag id."""
    found = dict(Tag.objects.filter(kind=Tag.Kind.AUTO).values_list("code", "pk"))
    for code, label in AUTO_TAG_NAMES.items():
        if code not in found:
            tag, _ = Tag.objects.get_or_create(
                code=code, defaults={"name": label, "kind": Tag.Kind.AUTO}
            )
            found[code] = tag.pk
    return found


def tags_auto_apply(
    *,
    member_id_after: int,
    member_id_upto: int,
    purchases: Sequence[Any],
    now: datetime | None = None,
) -> tuple[int, int]:
    """Set the automatic tags of the members with member_id_after < id ≤ member_id_upto from
    their purchases: items with member_id, last_paid_at and paid_fen (orders paid and not fully
    refunded) of those who bought; the others bought nothing. One statement, in the caller's
    transaction; safe to repeat (the unique (member, tag) key). Returns (added, removed)."""
    now = now or timezone.now()
    return sql.member_tags_auto_apply(
        lo=member_id_after,
        hi=member_id_upto,
        stat_member_ids=[p.member_id for p in purchases],
        stat_last_paid_at=[p.last_paid_at for p in purchases],
        stat_spend_fen=[p.paid_fen for p in purchases],
        new_since=now - timedelta(days=settings.TAG_NEW_DAYS),
        active_since=now - timedelta(days=settings.TAG_ACTIVE_DAYS),
        dormant_before=now - timedelta(days=settings.TAG_DORMANT_DAYS),
        high_value_fen=settings.TAG_HIGH_VALUE_FEN,
        now=now,
    )


def member_tags_add(*, member_ids: list[int], tag_id: int) -> int:
    """Put a manual tag on many members at once; returns how many were newly tagged.

    Raises: TagNotManual.
    """
    if not Tag.objects.filter(pk=tag_id, kind=Tag.Kind.MANUAL).exists():
        raise TagNotManual(tag_id=tag_id)
    before = MemberTag.objects.filter(tag_id=tag_id, member_id__in=member_ids).count()
    MemberTag.objects.bulk_create(
        [
            MemberTag(member_id=pk, tag_id=tag_id, source=MemberTag.Source.MANUAL)
            for pk in member_ids
        ],
        ignore_conflicts=True,
    )
    return MemberTag.objects.filter(tag_id=tag_id, member_id__in=member_ids).count() - before


def member_tags_remove(*, member_ids: list[int], tag_id: int) -> int:
    """Take a manual tag off members; returns how many.

    Raises: TagNotManual.
    """
    if not Tag.objects.filter(pk=tag_id, kind=Tag.Kind.MANUAL).exists():
        raise TagNotManual(tag_id=tag_id)
    deleted, _ = MemberTag.objects.filter(tag_id=tag_id, member_id__in=member_ids).delete()
    return deleted


def tag_member_ids(*, tag_id: int, batch_size: int = 1000) -> Iterator[list[int]]:
    """The members of a tag, in batches of ids (keyset pagination: constant memory), for
    targeting coupons and messages."""
    after = 0
    while True:
        ids = list(
            MemberTag.objects.filter(tag_id=tag_id, member_id__gt=after, member__is_active=True)
            .order_by("member_id")
            .values_list("member_id", flat=True)[:batch_size]
        )
        if not ids:
            return
        yield ids
        after = ids[-1]


def tag_subscribe_messages_queue(
    *, tag_id: int, template_key: str, data: dict[str, Any], page: str = "", campaign: str
) -> int:
    """A subscribe message to every member of a tag (a merchant's campaign), in batches; each
    member gets it once per `campaign` (its dedup key), so a repeated call sends nothing new.
    Returns how many were queued."""
    queued = 0
    for member_ids in tag_member_ids(tag_id=tag_id, batch_size=500):
        with transaction.atomic():
            queued += len(
                subscribe_messages_queue_many(
                    messages=[
                        {
                            "member_id": member_id,
                            "template_key": template_key,
                            "data": data,
                            "page": page,
                            "dedup_key": f"tag:{campaign}:{member_id}"[:120],
                        }
                        for member_id in member_ids
                    ]
                )
            )
    return queued
