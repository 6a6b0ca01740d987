"""拼团 group buying: open a group, join it, seats held → paid (or released), formed or failed.

The Group row is the lock of its group: whoever changes a group's status or counts holds it
(`select_for_update`) or changes it with one conditional UPDATE (taking a seat). Lock order is
always order row (held by the caller, if any) → group → its seats, so paying, expiring and
releasing never deadlock. Orders and payments are higher apps: they call these services (order
creation through the provider, the pending → paid transaction, cancel/expiry), and the refunds
of a failed group are payments' use case (`payments.services.group_buy`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Prefetch, QuerySet
from django.utils import timezone

from mall.errors import GroupAlreadyJoined, GroupFull, GroupUnavailable, PromotionUnavailable
from mall.money import yuan
from members.models import Member
from members.subscribe_messages import subscribe_message_queue

from ..models import Group, GroupBuyCampaign, GroupMember

logger = logging.getLogger(__name__)

KIND_OPEN = "group_open"
KIND_JOIN = "group_join"
GROUP_BUY_KINDS = frozenset({KIND_OPEN, KIND_JOIN})


# --- checkout: what the provider loads and commits ---
@dataclass(frozen=True)
class GroupBuyChoice:
    """The group-buy promotion an order asks for, as checked at pricing time."""

    kind: str  # KIND_OPEN or KIND_JOIN
    campaign_id: int
    group_id: int | None  # KIND_JOIN only
    sku_id: int
    group_price_fen: int

    @property
    def ref(self) -> str:
        return f"group:{self.group_id}" if self.group_id else f"group_campaign:{self.campaign_id}"


def group_buy_choice_load(
    *, member: Member, kind: str, target_id: int | None, sku_ids: Sequence[int], now: datetime
) -> GroupBuyChoice:
    """Check a group-buy choice at checkout (a campaign to open, or a group to join).

    Raises: PromotionUnavailable (no such campaign, not running, not one line of its SKU),
    GroupUnavailable (the group is not forming or past its deadline), GroupFull,
    GroupAlreadyJoined.
    """
    if target_id is None:
        raise PromotionUnavailable(kind=kind, id=target_id)
    if kind == KIND_OPEN:
        campaign = GroupBuyCampaign.objects.filter(pk=target_id).first()
        if campaign is None or not campaign.is_open_at(now):
            raise PromotionUnavailable(kind=kind, id=target_id)
        group_id = None
    else:
        group = Group.objects.select_related("campaign").filter(pk=target_id).first()
        if group is None or group.status != Group.Status.FORMING or _is_past(group.expires_at, now):
            raise GroupUnavailable(group_id=target_id)
        if group.seats_left <= 0:
            raise GroupFull(group_id=target_id)
        if group.members.filter(member=member).exclude(status=GroupMember.Status.RELEASED).exists():
            raise GroupAlreadyJoined(group_id=target_id)
        campaign, group_id = group.campaign, group.pk
    if list(sku_ids) != [campaign.sku_id]:
        raise PromotionUnavailable("拼团商品须单独下单", kind=kind, id=target_id)
    return GroupBuyChoice(
        kind=kind,
        campaign_id=campaign.pk,
        group_id=group_id,
        sku_id=campaign.sku_id,
        group_price_fen=campaign.group_price_fen,
    )


def _is_past(moment: datetime | None, now: datetime) -> bool:
    return moment is None or moment <= now


def group_open(
    *,
    campaign_id: int,
    member_id: int,
    order_id: int,
    order_no: str,
    payable_fen: int,
    now: datetime,
) -> Group:
    """Open a group for the leader's new order (inside order creation's transaction). The group
    is not joinable (pending) until the leader pays; its clock starts then.

    Raises: PromotionUnavailable (the campaign stopped meanwhile).
    """
    campaign = GroupBuyCampaign.objects.filter(pk=campaign_id).first()
    if campaign is None or not campaign.is_open_at(now):
        raise PromotionUnavailable(kind=KIND_OPEN, id=campaign_id)
    group = Group.objects.create(
        campaign=campaign,
        leader_id=member_id,
        status=Group.Status.PENDING,
        size=campaign.size,
        seats_taken=1,
        created_at=now,
    )
    GroupMember.objects.create(
        group=group,
        member_id=member_id,
        order_id=order_id,
        order_no=order_no,
        payable_fen=payable_fen,
        is_leader=True,
        joined_at=now,
    )
    return group


@transaction.atomic  # a seat taken is given back when the member row is refused
def group_join(
    *,
    group_id: int,
    member_id: int,
    order_id: int,
    order_no: str,
    payable_fen: int,
    now: datetime,
) -> None:
    """Take a seat in a forming group for a new order (inside order creation's transaction):
    one conditional UPDATE `seats_taken < size`, so the last seat cannot be taken twice.

    Raises: GroupFull, GroupUnavailable, GroupAlreadyJoined.
    """
    taken = Group.objects.filter(
        pk=group_id, status=Group.Status.FORMING, expires_at__gt=now, seats_taken__lt=F("size")
    ).update(seats_taken=F("seats_taken") + 1)
    if not taken:
        group = Group.objects.filter(pk=group_id).only("status", "expires_at").first()
        if (
            group is not None
            and group.status == Group.Status.FORMING
            and not _is_past(group.expires_at, now)
        ):
            raise GroupFull(group_id=group_id)
        raise GroupUnavailable(group_id=group_id)
    try:
        with transaction.atomic():  # a savepoint: the constraint decides a double join
            GroupMember.objects.create(
                group_id=group_id,
                member_id=member_id,
                order_id=order_id,
                order_no=order_no,
                payable_fen=payable_fen,
                joined_at=now,
            )
    except IntegrityError as exc:
        raise GroupAlreadyJoined(group_id=group_id) from exc


def group_buy_campaign_end(*, campaign_id: int, now: datetime | None = None) -> bool:
    """End a campaign early (the merchant): no new groups; open groups run to their deadline.
    Returns whether it was running."""
    now = now or timezone.now()
    return bool(
        GroupBuyCampaign.objects.filter(pk=campaign_id, is_active=True, ends_at__gt=now).update(
            is_active=False
        )
    )


# --- an unpaid order cancelled or expired ---
def group_seat_release_for_order(*, order_id: int, now: datetime | None = None) -> bool:
    """Give back the seat an unpaid order held (called once, by the winner of the order's
    cancel transition); a pending group whose leader never paid fails. Returns whether a seat
    was released."""
    seat = (
        GroupMember.objects.filter(order_id=order_id, status=GroupMember.Status.HELD)
        .values_list("pk", "group_id", "is_leader")
        .first()
    )
    if seat is None:
        return False
    seat_id, group_id, is_leader = seat
    with transaction.atomic():
        group = Group.objects.select_for_update().get(pk=group_id)
        if not GroupMember.objects.filter(pk=seat_id, status=GroupMember.Status.HELD).update(
            status=GroupMember.Status.RELEASED
        ):
            return False
        group.seats_taken = max(group.seats_taken - 1, 0)
        fields = ["seats_taken"]
        if is_leader and group.status == Group.Status.PENDING:
            group.status, group.failed_at = Group.Status.FAILED, now or timezone.now()
            fields += ["status", "failed_at"]
        group.save(update_fields=fields)
    return True


# --- payment ---
@dataclass(frozen=True)
class GroupPaidOutcome:
    group_id: int
    status: str
    expires_at: datetime | None
    clock_started: bool  # the leader paid: the group's deadline starts now
    must_refund: bool  # the group failed before this payment: the order is to be refunded


@transaction.atomic(savepoint=False)
def group_member_paid(*, order_id: int, now: datetime | None = None) -> GroupPaidOutcome | None:
    """A group order was paid (called inside the pending → paid transaction): its seat becomes
    paid; the leader's payment opens the group for joining and starts its clock; the payment
    filling the last seat forms the group (subscribe message to every member). A payment for a
    failed group is kept and flagged `must_refund` (a payment is never dropped). None: the
    order is not a group order. Safe to call twice."""
    now = now or timezone.now()
    group_id = (
        GroupMember.objects.filter(order_id=order_id).values_list("group_id", flat=True).first()
    )
    if group_id is None:
        return None
    group = (
        Group.objects.select_for_update(of=("self",)).select_related("campaign").get(pk=group_id)
    )
    seat = GroupMember.objects.get(order_id=order_id)
    clock_started = False
    if seat.status == GroupMember.Status.HELD:
        GroupMember.objects.filter(pk=seat.pk).update(status=GroupMember.Status.PAID, paid_at=now)
        seat.status = GroupMember.Status.PAID
        group.seats_paid += 1
        fields = ["seats_paid"]
        if group.status == Group.Status.PENDING:
            group.status = Group.Status.FORMING
            group.expires_at = now + timedelta(hours=group.campaign.form_hours)
            clock_started = True
            fields += ["status", "expires_at"]
        elif group.status == Group.Status.FORMED and group.virtual_seats:
            group.virtual_seats -= 1  # a real member takes a virtual member's place
            fields.append("virtual_seats")
        group.save(update_fields=fields)
        if group.status == Group.Status.FORMING and group.seats_paid >= group.size:
            _group_formed_locked(group=group, now=now)
    else:
        logger.info("group seat of order %s already %s", order_id, seat.status)
    return GroupPaidOutcome(
        group_id=group.pk,
        status=group.status,
        expires_at=group.expires_at,
        clock_started=clock_started,
        must_refund=group.status == Group.Status.FAILED and seat.status == GroupMember.Status.PAID,
    )


def _group_formed_locked(*, group: Group, now: datetime, virtual_seats: int = 0) -> None:
    """成团: the caller holds the group's lock. Its paid orders become shippable; every paying
    member gets the "group_buy_formed" subscribe message (once: deduplicated per group)."""
    group.status, group.formed_at, group.virtual_seats = Group.Status.FORMED, now, virtual_seats
    group.save(update_fields=["status", "formed_at", "virtual_seats"])
    campaign = group.campaign
    seats = GroupMember.objects.filter(group=group, status=GroupMember.Status.PAID).select_related(
        "member"
    )
    for seat in seats:
        subscribe_message_queue(
            member=seat.member,
            template_key="group_buy_formed",
            data={
                "thing1": {"value": campaign.name[:20]},
                "amount2": {"value": f"{yuan(campaign.group_price_fen)}元"},
                "number3": {"value": str(group.size)},
                "character_string4": {"value": seat.order_no},
                "thing5": {"value": "拼团成功，商家将尽快发货"},
            },
            page=f"pages/group/detail?id={group.pk}",
            dedup_key=f"group_formed:{group.pk}:{seat.member_id}",
        )


# --- expiry ---
@transaction.atomic
def group_expire(*, group_id: int, now: datetime | None = None) -> list[int]:
    """A forming group past its deadline fails (or, with the campaign's virtual auto-complete,
    forms with virtual members). Returns the ids of its paid orders still to be refunded (also
    for a group that failed before: the caller's refunds are idempotent). Locks the group, so
    a late joiner's payment is either in (refunded too) or comes after (refunded by its own
    payment's follow-up)."""
    now = now or timezone.now()
    group = (
        Group.objects.select_for_update(of=("self",)).select_related("campaign").get(pk=group_id)
    )
    if group.status == Group.Status.FORMING and not _is_past(group.expires_at, now):
        return []
    if group.status == Group.Status.FORMING:
        if group.campaign.auto_complete_with_virtual:
            _group_formed_locked(group=group, now=now, virtual_seats=group.size - group.seats_paid)
            return []
        group.status, group.failed_at = Group.Status.FAILED, now
        group.save(update_fields=["status", "failed_at"])
    if group.status != Group.Status.FAILED:
        return []
    return list(
        GroupMember.objects.filter(group=group, status=GroupMember.Status.PAID)
        .order_by("pk")
        .values_list("order_id", flat=True)
    )


@transaction.atomic(savepoint=False)
def group_seat_refunded_for_order(*, order_id: int) -> bool:
    """A paid group order was refunded in full (an after-sale, or the failed group's refund):
    its seat is refunded; in a group still forming the seat is free for someone else. A formed
    group keeps its count (it did form). Returns whether a paid seat changed; safe twice."""
    group_id = (
        GroupMember.objects.filter(order_id=order_id, status=GroupMember.Status.PAID)
        .values_list("group_id", flat=True)
        .first()
    )
    if group_id is None:
        return False
    group = Group.objects.select_for_update().get(pk=group_id)
    if not GroupMember.objects.filter(order_id=order_id, status=GroupMember.Status.PAID).update(
        status=GroupMember.Status.REFUNDED
    ):
        return False
    if group.status == Group.Status.FORMING:
        group.seats_paid -= 1
        group.seats_taken -= 1
        group.save(update_fields=["seats_paid", "seats_taken"])
    return True


def group_member_refunded(*, order_id: int) -> bool:
    """The paid order of a failed group has its refund requested: its seat is refunded."""
    return bool(
        GroupMember.objects.filter(order_id=order_id, status=GroupMember.Status.PAID).update(
            status=GroupMember.Status.REFUNDED
        )
    )


def groups_due_ids(*, now: datetime | None = None, limit: int = 200) -> list[int]:
    """Groups the expiry sweep must look at: forming past their deadline, and failed ones with
    a paid seat whose refund was not requested yet (a crash between the two steps)."""
    now = now or timezone.now()
    overdue = list(
        Group.objects.filter(status=Group.Status.FORMING, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:limit]
    )
    unrefunded = list(
        GroupMember.objects.filter(
            group__status=Group.Status.FAILED, status=GroupMember.Status.PAID
        )
        .order_by("group_id")
        .values_list("group_id", flat=True)
        .distinct()[:limit]
    )
    return list(dict.fromkeys([*overdue, *unrefunded]))


# --- selectors for orders (shipping gate, order API and admin) ---
def group_buy_order_blocks_shipping(order_id: int) -> bool:
    """A paid group order waits until its group is formed: no shipping, no pickup before."""
    return (
        GroupMember.objects.filter(order_id=order_id)
        .exclude(status=GroupMember.Status.RELEASED)
        .exclude(group__status=Group.Status.FORMED)
        .exists()
    )


def group_buy_order_status_label(order_id: int) -> str:
    """ "拼团中（成团后发货）" …, for the order desk; "" for an order with no seat."""
    status = group_statuses_for_orders([order_id]).get(order_id)
    if status is None:
        return ""
    label = str(Group.Status(status).label)
    return label if status == Group.Status.FORMED else f"{label}（成团后才能发货）"


def group_statuses_for_orders(order_ids: Iterable[int]) -> dict[int, str]:
    """{order id: its group's status} for the group orders among them (one query)."""
    ids = list(order_ids)
    if not ids:
        return {}
    return dict(
        GroupMember.objects.filter(order_id__in=ids).values_list("order_id", "group__status")
    )


def group_share_view(group: Group, *, now: datetime) -> dict[str, Any]:
    """What the share page shows of a group: no order numbers, nicknames masked."""
    seats = [
        seat
        for seat in group.members.all()
        if seat.status in (GroupMember.Status.HELD, GroupMember.Status.PAID)
    ]  # prefetched
    seconds_left = (
        max(int((group.expires_at - now).total_seconds()), 0)
        if group.status == Group.Status.FORMING and group.expires_at
        else 0
    )
    return {
        "id": group.pk,
        "campaign_id": group.campaign_id,
        "status": group.status,
        "size": group.size,
        "seats_taken": group.seats_taken,
        "seats_paid": group.seats_paid,
        "seats_left": group.seats_left if group.status == Group.Status.FORMING else 0,
        "virtual_seats": group.virtual_seats,
        "expires_at": group.expires_at,
        "seconds_left": seconds_left,
        "members": [
            {
                "nickname": nickname_mask(seat.member.nickname),
                "avatar_url": seat.member.avatar_url,
                "is_leader": seat.is_leader,
                "is_paid": seat.status == GroupMember.Status.PAID,
            }
            for seat in seats
        ],
    }


def nickname_mask(nickname: str) -> str:
    """ "张三丰" → "张**": the share page is public to whoever has the link."""
    if not nickname:
        return "匿名用户"
    return nickname[0] + "*" * min(max(len(nickname) - 1, 1), 4)


# --- reads for the shopper API and the admin ---
def group_buy_campaigns_active(*, now: datetime | None = None) -> QuerySet[GroupBuyCampaign]:
    """Running campaigns, ending soonest first, with their SKU and product (no N+1)."""
    now = now or timezone.now()
    return (
        GroupBuyCampaign.objects.filter(is_active=True, starts_at__lte=now, ends_at__gt=now)
        .select_related("sku", "sku__product")
        .order_by("ends_at", "id")
    )


def groups_joinable(
    *, campaign_id: int, now: datetime | None = None, limit: int = 20
) -> list[Group]:
    """A campaign's groups a shopper can join now (forming, seats left), closest to full and
    then to their deadline first, with their members (for the avatars)."""
    now = now or timezone.now()
    return list(
        Group.objects.filter(
            campaign_id=campaign_id,
            status=Group.Status.FORMING,
            expires_at__gt=now,
            seats_taken__lt=F("size"),
        )
        .annotate(seats_left_db=F("size") - F("seats_taken"))
        .order_by("seats_left_db", "expires_at", "id")
        .prefetch_related(_live_seats_prefetch())[:limit]
    )


def group_get_for_share(*, group_id: int) -> Group:
    """A group as its share page shows it. Raises: Group.DoesNotExist."""
    return (
        Group.objects.select_related("campaign", "campaign__sku__product")
        .prefetch_related(_live_seats_prefetch())
        .get(pk=group_id)
    )


def group_seats_for_member(*, member: Member) -> QuerySet[GroupMember]:
    """The member's seats (held, paid, refunded), newest first, with their groups."""
    return (
        GroupMember.objects.filter(member=member)
        .exclude(status=GroupMember.Status.RELEASED)
        .select_related("group", "group__campaign")
        .order_by("-joined_at", "-id")
    )


def _live_seats_prefetch() -> Prefetch:
    return Prefetch(
        "members",
        queryset=GroupMember.objects.filter(
            status__in=(GroupMember.Status.HELD, GroupMember.Status.PAID)
        )
        .select_related("member")
        .order_by("-is_leader", "id"),
    )
