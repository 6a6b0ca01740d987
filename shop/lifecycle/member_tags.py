"""The automatic member tags (new, active, dormant, high value), recomputed from paid orders."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from members.selectors import member_count, member_id_max
from members.tags import tags_auto_apply, tags_auto_ensure
from orders.selectors import member_purchase_stats


def tags_auto_refresh(
    *, now: datetime | None = None, batch_size: int | None = None
) -> dict[str, int]:
    """Recompute every member's automatic tags, one member-id range (`batch_size` ids) per
    transaction: one grouped read of the range's orders, one statement applying the tags, so
    memory stays constant and transactions short. Safe to run twice or concurrently."""
    now = now or timezone.now()
    batch_size = batch_size or settings.TAG_REFRESH_BATCH_SIZE
    tags_auto_ensure()
    max_id = member_id_max()
    counts = {"members": 0, "added": 0, "removed": 0}
    lo = 0
    while lo < max_id:
        hi = lo + batch_size
        with transaction.atomic():
            purchases = member_purchase_stats(member_id_after=lo, member_id_upto=hi)
            added, removed = tags_auto_apply(
                member_id_after=lo, member_id_upto=hi, purchases=purchases, now=now
            )
        counts["added"] += added
        counts["removed"] += removed
        lo = hi
    counts["members"] = member_count()
    return counts
