"""Member tags: manual assignment, and the automatic tags recomputed from paid orders.

The automatic tags read the orders tables (orders is a higher app): to keep the import direction,
the recompute is raw SQL on their table names (`orders_order`), set-based, one member-id range at
a time, so memory stays constant and each transaction short, whatever the number of members:

- new          registered within TAG_NEW_DAYS
- active_30d   a paid order within TAG_ACTIVE_DAYS
- dormant_90d  has paid orders, the last one more than TAG_DORMANT_DAYS ago
- high_value   paid amount (orders not fully refunded) ≥ TAG_HIGH_VALUE_FEN
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from mall.errors import TagNotManual

from .models import Member, MemberTag, Tag
from .services import subscribe_messages_queue_many

# Orders that were paid and not fully refunded (closed) nor cancelled.
PAID_STATUSES = ("paid", "shipped", "received", "completed")

AUTO_TAG_NAMES = dict(Tag.AutoCode.choices)

_REFRESH_SQL = """
WITH stats AS (
    SELECT m.id AS member_id, m.created_at,
           max(o.paid_at) AS last_paid_at,
           coalesce(sum(o.payable_fen), 0) AS spend_fen
    FROM members_member m
    LEFT JOIN orders_order o
           ON o.member_id = m.id AND o.status = ANY(%(paid)s) AND o.paid_at IS NOT NULL
    WHERE m.id > %(lo)s AND m.id <= %(hi)s
    GROUP BY m.id
), wanted AS (
    SELECT s.member_id, t.id AS tag_id
    FROM stats s JOIN members_tag t ON t.kind = 'auto' AND (
           (t.code = 'new' AND s.created_at >= %(new_since)s)
        OR (t.code = 'active_30d' AND s.last_paid_at >= %(active_since)s)
        OR (t.code = 'dormant_90d' AND s.last_paid_at < %(dormant_before)s)
        OR (t.code = 'high_value' AND s.spend_fen >= %(high_value_fen)s))
), removed AS (
    DELETE FROM members_membertag mt
    USING members_tag t
    WHERE mt.tag_id = t.id AND t.kind = 'auto'
      AND mt.member_id > %(lo)s AND mt.member_id <= %(hi)s
      AND NOT EXISTS (
          SELECT 1 FROM wanted w WHERE w.member_id = mt.member_id AND w.tag_id = mt.tag_id)
    RETURNING 1
), added AS (
    INSERT INTO members_membertag (member_id, tag_id, source, created_at)
    SELECT member_id, tag_id, 'auto', %(now)s FROM wanted
    ON CONFLICT (member_id, tag_id) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM added), (SELECT count(*) FROM removed)
"""


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


def tags_auto_refresh(
    *, now: datetime | None = None, batch_size: int | None = None
) -> dict[str, int]:
    """Recompute every member's automatic tags, one id range (`batch_size` ids) per transaction.
    Safe to run twice or concurrently with itself (the unique (member, tag) key)."""
    now = now or timezone.now()
    batch_size = batch_size or settings.TAG_REFRESH_BATCH_SIZE
    tags_auto_ensure()
    params = {
        "paid": list(PAID_STATUSES),
        "new_since": now - timedelta(days=settings.TAG_NEW_DAYS),
        "active_since": now - timedelta(days=settings.TAG_ACTIVE_DAYS),
        "dormant_before": now - timedelta(days=settings.TAG_DORMANT_DAYS),
        "high_value_fen": settings.TAG_HIGH_VALUE_FEN,
        "now": now,
    }
    max_id = Member.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    counts = {"members": 0, "added": 0, "removed": 0}
    lo = 0
    while lo < max_id:
        hi = lo + batch_size
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_REFRESH_SQL, params | {"lo": lo, "hi": hi})
            added, removed = cursor.fetchone()
        counts["added"] += added
        counts["removed"] += removed
        lo = hi
    counts["members"] = Member.objects.count()
    return counts


def member_tag_add(*, member_id: int, tag_id: int) -> bool:
    """Put a manual tag on a member; returns whether it was added (a repeat adds nothing).

    Raises: TagNotManual (automatic tags are computed, not assigned).
    """
    if not Tag.objects.filter(pk=tag_id, kind=Tag.Kind.MANUAL).exists():
        raise TagNotManual(tag_id=tag_id)
    _, created = MemberTag.objects.get_or_create(
        member_id=member_id, tag_id=tag_id, defaults={"source": MemberTag.Source.MANUAL}
    )
    return created


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


def member_tag_names(*, member_id: int) -> list[str]:
    return list(
        MemberTag.objects.filter(member_id=member_id)
        .order_by("tag__kind", "tag_id")
        .values_list("tag__name", flat=True)
    )
