"""Referral (转介绍): invite codes, binding an invitee at first login, rewarding once.

Who is rewarded and when: the invitee's first paid order, once it is past the after-sales window,
rewards the inviter (REFERRAL_INVITER_POINTS) and the invitee (REFERRAL_INVITEE_POINTS); if that
order was fully refunded the referral is cancelled. Orders belong to a higher app:
shop.lifecycle.referral_rewards finds the first orders and calls `referral_reward` /
`referral_cancel` here. A→B→C: each referral row rewards its own inviter only,
so B's invite of C never rewards A.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import InviteCode, Member, Referral
from .points import points_earn

logger = logging.getLogger(__name__)

# No 0/O, 1/I/L: the code may be read aloud or typed.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
SCENE_PREFIX = "inv="  # wxacode scene: ≤ 32 visible characters


@dataclass(frozen=True)
class Invite:
    code: str
    scene: str
    page: str


def invite_scene(code: str) -> str:
    return f"{SCENE_PREFIX}{code}"


def invite_code_from_scene(value: str) -> str:
    """The login's `inviter` may be the bare code or the scene string of the mini-program code."""
    value = value.strip()
    if value.startswith(SCENE_PREFIX):
        value = value[len(SCENE_PREFIX) :]
    return value.upper()


def invite_get_or_create(*, member: Member) -> Invite:
    """The member's invite code (made on first request; a collision retries with a new code)."""
    code = InviteCode.objects.filter(member=member).values_list("code", flat=True).first()
    for _ in range(5):
        if code is not None:
            break
        candidate = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        try:
            with transaction.atomic():
                InviteCode.objects.create(member=member, code=candidate)
            code = candidate
        except IntegrityError:  # a concurrent request made this member's code, or a collision
            code = InviteCode.objects.filter(member=member).values_list("code", flat=True).first()
    if code is None:
        raise RuntimeError("could not make a unique invite code")
    return Invite(code=code, scene=invite_scene(code), page=settings.REFERRAL_LANDING_PAGE)


def referral_bind(*, invitee: Member, inviter_code: str) -> Referral | None:
    """Record who invited `invitee` (call it at the invitee's first login only). Ignored, not an
    error (the shopper cannot fix a bad share link): an unknown code, a self-invite, or an
    invitee who already has an inviter (the first one stays)."""
    code = invite_code_from_scene(inviter_code or "")
    if not code:
        return None
    inviter_id = InviteCode.objects.filter(code=code).values_list("member_id", flat=True).first()
    if inviter_id is None or inviter_id == invitee.pk:
        return None
    try:
        with transaction.atomic():
            return Referral.objects.create(invitee=invitee, inviter_id=inviter_id)
    except IntegrityError:  # one inviter per member: a concurrent first login bound one already
        return None


@transaction.atomic
def referral_reward(*, invitee_id: int, order_no: str) -> bool:
    """Reward the referral of `invitee_id` for its first order `order_no`; returns whether this
    call did (a second call, or a cancelled referral, does nothing). The caller checked that the
    order is the invitee's first paid one and past the after-sales window."""
    referral = Referral.objects.select_for_update().filter(invitee_id=invitee_id).first()
    if referral is None or referral.status != Referral.Status.PENDING:
        return False
    inviter_points = settings.REFERRAL_INVITER_POINTS
    invitee_points = settings.REFERRAL_INVITEE_POINTS
    # Points references are unique in the points ledger: a replay cannot award twice either.
    if inviter_points:
        _points_award(
            member_id=referral.inviter_id,
            points=inviter_points,
            reference=f"referral:{referral.pk}:inviter",
            reason="邀请好友奖励",
        )
    if invitee_points:
        _points_award(
            member_id=invitee_id,
            points=invitee_points,
            reference=f"referral:{referral.pk}:invitee",
            reason="受邀首单奖励",
        )
    Referral.objects.filter(pk=referral.pk).update(
        status=Referral.Status.REWARDED,
        order_no=order_no,
        inviter_points=inviter_points,
        invitee_points=invitee_points,
        settled_at=timezone.now(),
    )
    logger.info("referral %s rewarded for order %s", referral.pk, order_no)
    return True


def _points_award(*, member_id: int, points: int, reference: str, reason: str) -> None:
    """Award points through the points service (its ledger key `reference` is unique)."""
    points_earn(member_id=member_id, points=points, source_key=reference, note=reason)


def referral_cancel(*, invitee_id: int, order_no: str, reason: str = "首单已退款") -> bool:
    """No reward: the invitee's first paid order was refunded. Returns whether this call did."""
    return bool(
        Referral.objects.filter(invitee_id=invitee_id, status=Referral.Status.PENDING).update(
            status=Referral.Status.CANCELLED,
            order_no=order_no,
            note=reason[:200],
            settled_at=timezone.now(),
        )
    )


def referral_pending_page(*, after_id: int, limit: int) -> list[tuple[int, int]]:
    """(referral id, invitee id) of pending referrals after `after_id`, in id order (keyset)."""
    return list(
        Referral.objects.filter(status=Referral.Status.PENDING, pk__gt=after_id)
        .order_by("pk")
        .values_list("pk", "invitee_id")[:limit]
    )
