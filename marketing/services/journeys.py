"""Lifecycle journeys, marketing's part: record what a journey sends a member (JourneySend, one
row per unique key), issue the coupons and queue the messages of the sends recorded; and the
birthday journey, which reads members only.

Who is due for a replenish reminder or a win-back coupon depends on their orders, a higher app:
those use cases live in shop.lifecycle.journeys, which selects the candidates from orders and
hands them here as plain data (JourneyCandidate) to `journey_sends_deliver`.
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from mall.errors import CouponExpired, CouponNotFound, CouponSoldOut
from members.selectors import members_with_birthday_coupon
from members.subscribe_messages import subscribe_messages_queue_many

from ..models import Coupon, JourneySend
from ..sql import journey_sends_coupons_set, journey_sends_insert
from .coupons import coupons_issue

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JourneyCandidate:
    """A member a journey would send to: the send's unique key (order line, or period key), the
    coupon template to issue (None: message only) and what the message shows."""

    member_id: int
    rule_id: int | None
    order_line_id: int | None
    period_key: str
    coupon_template_id: int | None
    send_message: bool
    product_id: int = 0
    title: str = ""


@transaction.atomic
def journey_sends_deliver(
    *, kind: str, candidates: Sequence[JourneyCandidate], now: datetime
) -> int:
    """Record the sends (the unique keys drop what was sent already: a run repeated, or two at
    once, send once), then issue the coupons and queue the messages of the recorded ones only;
    returns how many were recorded. Atomic (a savepoint inside the caller's batch transaction);
    a few statements per call whatever the number of candidates."""
    inserted = journey_sends_insert(
        kind=kind,
        member_ids=[c.member_id for c in candidates],
        rule_ids=[c.rule_id for c in candidates],
        order_line_ids=[c.order_line_id for c in candidates],
        period_keys=[c.period_key for c in candidates],
        now=now,
    )
    if not inserted:
        return 0
    by_key = {(c.member_id, c.order_line_id, c.period_key): c for c in candidates}
    sent = [
        (send_id, by_key[(member_id, line_id, period_key)])
        for send_id, member_id, line_id, period_key in inserted
    ]
    by_template: dict[int, list[tuple[int, JourneyCandidate]]] = {}
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
    if send_ids:
        journey_sends_coupons_set(send_ids=send_ids, coupon_ids=coupon_ids)
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


def _message_for(*, kind: str, candidate: JourneyCandidate, send_id: int) -> dict:
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


def birthday_run(*, today: date | None = None, batch_size: int | None = None) -> dict[str, int]:
    """Birthday coupons (生日礼券): members whose birthday is today (29 Feb counts on 28 Feb in
    other years) get their level's birthday coupon and a message, once a year (the send's
    period key is the year). Batched by member id; safe to run twice."""
    today = today or timezone.localdate()
    batch_size = batch_size or settings.JOURNEY_BATCH_SIZE * 10
    days = [(today.month, today.day)]
    if (today.month, today.day) == (2, 28) and not calendar.isleap(today.year):
        days.append((2, 29))
    now, last_id, sent = timezone.now(), 0, 0
    while True:
        rows = members_with_birthday_coupon(days=days, after_member_id=last_id, limit=batch_size)
        if not rows:
            break
        last_id = rows[-1][0]
        candidates = [
            JourneyCandidate(
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
            sent += journey_sends_deliver(
                kind=JourneySend.Kind.BIRTHDAY, candidates=candidates, now=now
            )
    return {"sent": sent}
