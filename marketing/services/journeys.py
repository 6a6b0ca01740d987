"""Lifecycle journeys: replenish reminders and win-back coupons, run by a beat task.

Orders are a higher app, so the selection is raw SQL on the orders tables (`orders_order`,
`orders_orderline`), read-only, here; nothing imports orders. Each run walks the candidates in
keyset-paginated batches (constant memory), inserts the sends with ON CONFLICT DO NOTHING on
their unique keys (one per order line / per dormancy period) and only then issues the coupons and
queues the messages of the rows it inserted, in the same transaction: a run repeated, or two runs
at once, send once.

- Replenish: a line of a received order whose product (or category, with ancestors) has an active
  rule, received between `cycle_days` and `cycle_days + JOURNEY_LOOKBACK_DAYS` days ago, not
  refunded, and not rebought (no later paid order of the member has that product).
- Win-back: a member whose last paid order is more than WINBACK_DORMANT_DAYS old gets the
  WINBACK_COUPON_TEMPLATE_ID coupon once per dormancy (key: that last order's id).
"""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from mall.errors import CouponExpired, CouponNotFound, CouponSoldOut
from members.models import Member
from members.services import subscribe_messages_queue_many

from ..models import Coupon, JourneySend

logger = logging.getLogger(__name__)

PAID_STATUSES = ["paid", "shipped", "received", "completed"]

_REPLENISH_CANDIDATES_SQL = """
SELECT DISTINCT ON (l.id) l.id, o.member_id, r.id, l.product_id, l.title, r.coupon_template_id,
       r.send_message
FROM orders_orderline l
JOIN orders_order o ON o.id = l.order_id
JOIN catalog_product p ON p.id = l.product_id
LEFT JOIN catalog_category c1 ON c1.id = p.category_id
LEFT JOIN catalog_category c2 ON c2.id = c1.parent_id
JOIN marketing_replenishrule r ON r.is_active AND (
     r.product_id = l.product_id
     OR r.category_id = c1.id OR r.category_id = c1.parent_id OR r.category_id = c2.parent_id)
WHERE l.id > %(after)s
  AND o.status IN ('received', 'completed')
  AND o.received_at > %(oldest)s AND o.received_at <= %(newest)s
  AND o.received_at <= %(now)s - make_interval(days => r.cycle_days)
  AND o.received_at > %(now)s - make_interval(days => r.cycle_days + %(lookback)s)
  AND l.refunded_quantity < l.quantity
  -- OFFSET 0 keeps this a per-line probe of the unique index: as a join, a stale row estimate
  -- of the sends (they grow during the run) made the planner rescan them for every line.
  AND NOT EXISTS (
      SELECT 1 FROM marketing_journeysend s
      WHERE s.kind = 'replenish' AND s.order_line_id = l.id OFFSET 0)
  AND NOT EXISTS (
      SELECT 1 FROM orders_order o2
      WHERE o2.member_id = o.member_id AND o2.status = ANY(%(paid)s) AND o2.paid_at > o.paid_at
        AND EXISTS (
            SELECT 1 FROM orders_orderline l2
            WHERE l2.order_id = o2.id AND l2.product_id = l.product_id))
ORDER BY l.id, (r.product_id IS NULL), r.id
LIMIT %(limit)s
"""

_WINBACK_CANDIDATES_SQL = """
WITH last AS (
    SELECT DISTINCT ON (o.member_id) o.member_id, o.id AS order_id, o.paid_at
    FROM orders_order o
    WHERE o.member_id > %(lo)s AND o.member_id <= %(hi)s
      AND o.status = ANY(%(paid)s) AND o.paid_at IS NOT NULL
    ORDER BY o.member_id, o.paid_at DESC, o.id DESC
)
SELECT last.member_id, last.order_id
FROM last JOIN members_member m ON m.id = last.member_id AND m.is_active
WHERE last.paid_at < %(before)s
  AND NOT EXISTS (
      SELECT 1 FROM marketing_journeysend s
      WHERE s.kind = 'winback' AND s.member_id = last.member_id
        AND s.order_line_id IS NULL AND s.period_key = last.order_id::text OFFSET 0)
"""

_SENDS_INSERT_SQL = """
INSERT INTO marketing_journeysend
    (kind, member_id, rule_id, order_line_id, period_key, message_sent, sent_at)
SELECT %(kind)s, m, r, l, k, false, %(now)s
FROM unnest(%(members)s::bigint[], %(rules)s::bigint[], %(lines)s::bigint[], %(keys)s::text[])
     AS t(m, r, l, k)
ON CONFLICT DO NOTHING
RETURNING id, member_id, order_line_id, period_key
"""


@dataclass(frozen=True)
class _Candidate:
    member_id: int
    rule_id: int | None
    order_line_id: int | None
    period_key: str
    coupon_template_id: int | None
    send_message: bool
    product_id: int = 0
    title: str = ""


def _sends_insert(*, kind: str, candidates: list[_Candidate], now: datetime) -> list[tuple]:
    if connection.vendor != "postgresql":
        return _sends_insert_portable(kind=kind, candidates=candidates, now=now)
    with connection.cursor() as cursor:
        cursor.execute(
            _SENDS_INSERT_SQL,
            {
                "kind": kind,
                "now": now,
                "members": [c.member_id for c in candidates],
                "rules": [c.rule_id for c in candidates],
                "lines": [c.order_line_id for c in candidates],
                "keys": [c.period_key for c in candidates],
            },
        )
        return cursor.fetchall()


def _sends_insert_portable(
    *, kind: str, candidates: list[_Candidate], now: datetime
) -> list[tuple]:
    """_SENDS_INSERT_SQL (unnest arrays: PostgreSQL's) one row at a time, for the embedded
    mode's SQLite: a row whose unique key exists already is skipped."""
    inserted = []
    for c in candidates:
        try:
            with transaction.atomic():
                send = JourneySend.objects.create(
                    kind=kind,
                    member_id=c.member_id,
                    rule_id=c.rule_id,
                    order_line_id=c.order_line_id,
                    period_key=c.period_key,
                    message_sent=False,
                    sent_at=now,
                )
        except IntegrityError:
            continue
        inserted.append((send.pk, c.member_id, c.order_line_id, c.period_key))
    return inserted


def _sends_deliver(*, kind: str, candidates: list[_Candidate], now: datetime) -> int:
    """Insert the sends (the unique keys drop what was sent already), then issue the coupons
    and queue the messages of the inserted ones only. The caller's transaction."""
    inserted = _sends_insert(kind=kind, candidates=candidates, now=now)
    if not inserted:
        return 0
    by_key = {(c.member_id, c.order_line_id, c.period_key): c for c in candidates}
    sent = [
        (send_id, by_key[(member_id, line_id, period_key)])
        for send_id, member_id, line_id, period_key in inserted
    ]
    by_template: dict[int, list[tuple[int, _Candidate]]] = {}
    for send_id, candidate in sent:
        if candidate.coupon_template_id:
            by_template.setdefault(candidate.coupon_template_id, []).append((send_id, candidate))
    send_ids, coupon_ids = [], []
    for template_id, group in by_template.items():
        # One coupon per member and batch (two due lines of one member: one coupon); the batch's
        # first send id makes the coupons' idempotency key.
        coupons = _coupons_issue(
            template_id=template_id,
            member_ids=[candidate.member_id for _, candidate in group],
            source_ref=f"{kind}:{group[0][0]}",
            now=now,
        )
        for send_id, candidate in group:
            if candidate.member_id in coupons:
                send_ids.append(send_id)
                coupon_ids.append(coupons[candidate.member_id])
    if send_ids and connection.vendor != "postgresql":
        for send_id, coupon_id in zip(send_ids, coupon_ids, strict=True):
            JourneySend.objects.filter(pk=send_id).update(coupon_id=coupon_id)
    elif send_ids:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE marketing_journeysend s SET coupon_id = t.c "
                "FROM unnest(%s::bigint[], %s::bigint[]) AS t(s, c) WHERE s.id = t.s",
                [send_ids, coupon_ids],
            )
    messages = [
        (send_id, _message_for(kind=kind, candidate=candidate, send_id=send_id))
        for send_id, candidate in sent
        if candidate.send_message
    ]
    if messages:
        subscribe_messages_queue_many(messages=[message for _, message in messages])
        JourneySend.objects.filter(pk__in=[send_id for send_id, _ in messages]).update(
            message_sent=True
        )
    return len(inserted)


def _coupons_issue(
    *, template_id: int, member_ids: list[int], source_ref: str, now: datetime
) -> dict[int, int]:
    """member id → coupon id. A template that cannot issue (stopped, expired, none left) gives
    no coupons, and the journey still sends its message: the send is not retried later."""
    from .coupons import coupons_issue

    try:
        with transaction.atomic():  # a savepoint: a refused template rolls back its part only
            coupons = coupons_issue(
                template_id=template_id,
                member_ids=member_ids,
                source=Coupon.Source.JOURNEY,
                source_ref=source_ref,
                now=now,
            )
    except (CouponNotFound, CouponExpired, CouponSoldOut) as exc:
        logger.warning("journey coupons of template %s not issued: %r", template_id, exc)
        return {}
    return {coupon.member_id: coupon.pk for coupon in coupons}


def _message_for(*, kind: str, candidate: _Candidate, send_id: int) -> dict:
    if kind == JourneySend.Kind.BIRTHDAY:
        return {
            "member_id": candidate.member_id,
            "template_key": "birthday",
            "data": {"thing1": {"value": "生日快乐"}, "thing2": {"value": "您的生日礼券已到账"}},
            "page": "pages/coupons/index",
            "dedup_key": f"journey:{send_id}",
        }
    if kind == JourneySend.Kind.REPLENISH:
        return {
            "member_id": candidate.member_id,
            "template_key": "replenish",
            "data": {
                "thing1": {"value": (candidate.title or "商品")[:20]},
                "thing2": {"value": "上次买的快用完了吧？复购券已到账"},
            },
            "page": f"pages/product/detail?id={candidate.product_id}",
            "dedup_key": f"journey:{send_id}",
        }
    return {
        "member_id": candidate.member_id,
        "template_key": "replenish",
        "data": {"thing1": {"value": "好久不见"}, "thing2": {"value": "送您一张回归优惠券"}},
        "page": "pages/index/index",
        "dedup_key": f"journey:{send_id}",
    }


def replenish_run(*, now: datetime | None = None, batch_size: int | None = None) -> dict[str, int]:
    """Send the due replenish reminders; returns counts. Safe to run twice or concurrently."""
    now = now or timezone.now()
    batch_size = batch_size or settings.JOURNEY_BATCH_SIZE
    lookback = settings.JOURNEY_LOOKBACK_DAYS
    bounds = _active_cycle_bounds()
    if bounds is None:
        return {"scanned": 0, "sent": 0}
    shortest, longest = bounds
    params = {
        "now": now,
        "lookback": lookback,
        "paid": PAID_STATUSES,
        "limit": batch_size,
        # Constant bounds (from the active rules) let the planner cut orders by received_at.
        "oldest": now - timezone.timedelta(days=longest + lookback),
        "newest": now - timezone.timedelta(days=shortest),
    }
    after, scanned, sent = 0, 0, 0
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(_REPLENISH_CANDIDATES_SQL, params | {"after": after})
                rows = cursor.fetchall()
            if not rows:
                break
            candidates = [
                _Candidate(
                    member_id=member_id,
                    rule_id=rule_id,
                    order_line_id=line_id,
                    period_key="",
                    coupon_template_id=template_id,
                    send_message=send_message,
                    product_id=product_id,
                    title=title,
                )
                for line_id, member_id, rule_id, product_id, title, template_id, send_message in rows
            ]
            sent += _sends_deliver(kind=JourneySend.Kind.REPLENISH, candidates=candidates, now=now)
        scanned += len(rows)
        after = rows[-1][0]
        if len(rows) < batch_size:
            break
    return {"scanned": scanned, "sent": sent}


def _active_cycle_bounds() -> tuple[int, int] | None:
    from django.db.models import Max, Min

    from ..models import ReplenishRule

    bounds = ReplenishRule.objects.filter(is_active=True).aggregate(
        shortest=Min("cycle_days"), longest=Max("cycle_days")
    )
    if bounds["shortest"] is None:
        return None
    return bounds["shortest"], bounds["longest"]


def winback_run(*, now: datetime | None = None, batch_size: int | None = None) -> dict[str, int]:
    """Send win-back coupons to dormant members (once per dormancy); returns counts."""
    now = now or timezone.now()
    template_id = settings.WINBACK_COUPON_TEMPLATE_ID
    if not template_id:
        return {"sent": 0}
    batch_size = batch_size or settings.JOURNEY_BATCH_SIZE * 10
    params = {
        "paid": PAID_STATUSES,
        "before": now - timezone.timedelta(days=settings.WINBACK_DORMANT_DAYS),
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM members_member")
        (max_id,) = cursor.fetchone()
    lo, sent = 0, 0
    while lo < max_id:
        hi = lo + batch_size
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(_WINBACK_CANDIDATES_SQL, params | {"lo": lo, "hi": hi})
                rows = cursor.fetchall()
            if rows:
                candidates = [
                    _Candidate(
                        member_id=member_id,
                        rule_id=None,
                        order_line_id=None,
                        period_key=str(order_id),
                        coupon_template_id=template_id,
                        send_message=True,
                    )
                    for member_id, order_id in rows
                ]
                sent += _sends_deliver(
                    kind=JourneySend.Kind.WINBACK, candidates=candidates, now=now
                )
        lo = hi
    return {"sent": sent}


def birthday_run(*, today: date | None = None, batch_size: int | None = None) -> dict[str, int]:
    """Birthday coupons (生日礼券): members whose birthday is today (29 Feb counts on 28 Feb in
    other years) get their level's birthday coupon and a message, once a year (the send's
    period key is the year). Portable ORM, batched by member id; safe to run twice."""
    today = today or timezone.localdate()
    batch_size = batch_size or settings.JOURNEY_BATCH_SIZE * 10
    days = Q(birthday__month=today.month, birthday__day=today.day)
    if (today.month, today.day) == (2, 28) and not calendar.isleap(today.year):
        days |= Q(birthday__month=2, birthday__day=29)
    due = Member.objects.filter(days, level__birthday_coupon_template_id__isnull=False)
    now, last_id, sent = timezone.now(), 0, 0
    while True:
        rows = list(
            due.filter(pk__gt=last_id)
            .order_by("pk")
            .values_list("pk", "level__birthday_coupon_template_id")[:batch_size]
        )
        if not rows:
            break
        last_id = rows[-1][0]
        candidates = [
            _Candidate(
                member_id=member_id,
                rule_id=None,
                order_line_id=None,
                period_key=str(today.year),
                coupon_template_id=template_id,
                send_message=True,
            )
            for member_id, template_id in rows
        ]
        with transaction.atomic():
            sent += _sends_deliver(kind=JourneySend.Kind.BIRTHDAY, candidates=candidates, now=now)
    return {"sent": sent}
