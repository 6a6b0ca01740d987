"""Refunding a stored-value top-up (充值退款) with the clawback of its bonus.

The merchant refunds a paid top-up: in one transaction the top-up is locked and moves paid →
refunding, the member's balance gives back amount + bonus with one conditional UPDATE (never
below zero), two balance ledger rows record it (balance_top_up_refund, balance_bonus_clawback)
and the WeChat refund of the amount is created, sent to WeChat after commit. A balance that no
longer holds amount + bonus (the shopper spent part of it) is refused with top_up_balance_spent:
shops do not refund a top-up partly, or the shopper would keep a bonus for money returned.

When WeChat says SUCCESS the WeChat ledger row is written and the top-up is refunded; when the
refund is closed (REFUNDCLOSE, or WeChat refused it) the balance gets amount + bonus back, so the
money is always in exactly one place. CHANGE leaves the balance taken: the money left the
merchant and a person settles it with the shopper.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from mall.errors import BalanceInsufficient, TopUpBalanceSpent, TopUpNotRefundable
from members.stored_value import stored_value_credit, stored_value_debit

from ..models import LedgerEntry, PaymentAttempt, Refund, TopUp
from .ledger import ledger_record
from .queue import refund_submit_queue

logger = logging.getLogger(__name__)


def _top_up_refund_no(top_up: TopUp) -> str:
    """ "R" + top-up no + "-" + a sequence (a closed refund may be followed by another). The
    caller holds the top-up's lock."""
    seq = Refund.objects.filter(top_up=top_up, is_automatic=False).count() + 1
    return f"R{top_up.no}-{seq}"


@transaction.atomic(durable=True)
def top_up_refund(*, top_up_id: int, actor: str, reason: str = "") -> Refund:
    """Refund a paid top-up: its WeChat-paid amount goes back through WeChat, and amount +
    bonus leave the member's balance now (conditional UPDATE, same transaction). Idempotent: a
    top-up already being refunded (or refunded) returns that refund and changes nothing.

    Raises: TopUp.DoesNotExist, TopUpNotRefundable (not paid), TopUpBalanceSpent (the balance
    holds less than amount + bonus; nothing is changed).
    """
    top_up = TopUp.objects.select_for_update().get(pk=top_up_id)
    if top_up.status in (TopUp.Status.REFUNDING, TopUp.Status.REFUNDED):
        existing = (
            Refund.objects.filter(top_up=top_up, is_automatic=False, status__in=_LIVE)
            .order_by("-pk")
            .first()
        )
        if existing is not None:
            return existing  # a second click: the refund under way
    if top_up.status != TopUp.Status.PAID:
        raise TopUpNotRefundable(status=top_up.status, top_up_no=top_up.no)
    attempt = _top_up_paying_attempt(top_up)
    credit = top_up.amount_fen + top_up.bonus_fen
    try:
        stored_value_debit(member_id=top_up.member_id, amount_fen=credit, reference=top_up.no)
    except BalanceInsufficient as exc:
        raise TopUpBalanceSpent(
            top_up_no=top_up.no, balance_fen=exc.detail["balance_fen"], needed_fen=credit
        ) from exc
    TopUp.objects.filter(pk=top_up.pk).update(status=TopUp.Status.REFUNDING)
    refund = Refund.objects.create(
        top_up=top_up,
        attempt=attempt,
        out_refund_no=_top_up_refund_no(top_up),
        amount_fen=top_up.amount_fen,
        wechat_fen=top_up.amount_fen,
        reason=(reason or "充值退款")[:200],
        requested_by=actor[:80],
    )
    now = timezone.now()
    _balance_rows(
        top_up=top_up,
        refund=refund,
        direction=LedgerEntry.Direction.OUT,
        kinds=(LedgerEntry.Kind.BALANCE_TOP_UP_REFUND, LedgerEntry.Kind.BALANCE_BONUS_CLAWBACK),
        key_prefix="balance:topup_refund",
        note="充值退款",
        occurred_at=now,
    )
    refund_id = refund.pk
    refund_submit_queue(refund_id)
    return refund


# Refunds of a top-up that hold its balance debit: being refunded, refunded, or stuck in CHANGE.
_LIVE = (
    Refund.Status.PENDING,
    Refund.Status.PROCESSING,
    Refund.Status.SUCCESS,
    Refund.Status.CHANGE,
)


def _top_up_paying_attempt(top_up: TopUp) -> PaymentAttempt:
    """The attempt whose payment credited the top-up (its balance_top_up ledger row says which;
    any other paid attempt was refunded automatically)."""
    attempt_id = (
        LedgerEntry.objects.filter(external_key=f"balance:topup:{top_up.no}")
        .values_list("attempt_id", flat=True)
        .first()
    )
    if attempt_id is None:
        raise TopUpNotRefundable("找不到该充值的微信支付记录", top_up_no=top_up.no)
    return PaymentAttempt.objects.get(pk=attempt_id)


def _balance_rows(
    *,
    top_up: TopUp,
    refund: Refund,
    direction: str,
    kinds: tuple[str, str],
    key_prefix: str,
    note: str,
    occurred_at: datetime,
) -> None:
    """The amount's and the bonus's balance ledger rows, unique per refund."""
    for kind, part, amount in (
        (kinds[0], "amount", top_up.amount_fen),
        (kinds[1], "bonus", top_up.bonus_fen),
    ):
        if amount:
            ledger_record(
                kind=kind,
                direction=direction,
                channel=LedgerEntry.Channel.BALANCE,
                amount_fen=amount,
                external_key=f"{key_prefix}:{part}:{refund.out_refund_no}",
                occurred_at=occurred_at,
                attempt_id=refund.attempt_id,
                refund_id=refund.pk,
                member_id=top_up.member_id,
                note=note,
            )


def top_up_refund_succeeded_locked(
    *, refund: Refund, succeeded_at: datetime, wechat_refund_id: str = ""
) -> None:
    """WeChat refunded a top-up's refund (the caller holds the top-up's and the refund's locks):
    the WeChat ledger row, the refund done, the top-up refunded (not for the automatic refund
    of a surplus attempt, which leaves the top-up as it is)."""
    member_id = TopUp.objects.values_list("member_id", flat=True).get(pk=refund.top_up_id)
    ledger_record(
        kind=LedgerEntry.Kind.WECHAT_REFUND,
        direction=LedgerEntry.Direction.OUT,
        channel=LedgerEntry.Channel.WECHAT,
        amount_fen=refund.wechat_fen,
        external_key=f"wxrefund:{refund.out_refund_no}",
        occurred_at=succeeded_at,
        attempt_id=refund.attempt_id,
        refund_id=refund.pk,
        member_id=member_id,
        note=refund.reason,
    )
    Refund.objects.filter(pk=refund.pk).update(
        status=Refund.Status.SUCCESS,
        succeeded_at=succeeded_at,
        wechat_refund_id=wechat_refund_id[:32] or refund.wechat_refund_id,
        last_error="",
    )
    if not refund.is_automatic:
        TopUp.objects.filter(pk=refund.top_up_id, status=TopUp.Status.REFUNDING).update(
            status=TopUp.Status.REFUNDED
        )


def top_up_refund_closed_locked(*, refund: Refund) -> None:
    """A top-up's refund ended without moving money (the caller closed it, holding the
    top-up's lock): when no other refund of the top-up holds the debit, amount + bonus go back
    to the balance (two balance ledger rows, unique per refund) and the top-up is paid again."""
    if refund.is_automatic:
        return  # a surplus attempt's refund never touched the balance
    if (
        Refund.objects.filter(top_up_id=refund.top_up_id, is_automatic=False, status__in=_LIVE)
        .exclude(pk=refund.pk)
        .exists()
    ):
        return  # a re-submission of a CHANGE refund: the earlier one still holds the debit
    restored = TopUp.objects.filter(pk=refund.top_up_id, status=TopUp.Status.REFUNDING).update(
        status=TopUp.Status.PAID
    )
    if not restored:
        return
    top_up = TopUp.objects.get(pk=refund.top_up_id)
    stored_value_credit(
        member_id=top_up.member_id,
        amount_fen=top_up.amount_fen + top_up.bonus_fen,
        reference=refund.out_refund_no,
    )
    _balance_rows(
        top_up=top_up,
        refund=refund,
        direction=LedgerEntry.Direction.IN,
        kinds=(LedgerEntry.Kind.BALANCE_TOP_UP, LedgerEntry.Kind.BALANCE_BONUS),
        key_prefix="balance:topup_restore",
        note="充值退款关闭，余额恢复",
        occurred_at=timezone.now(),
    )
    logger.warning("top-up %s refund %s closed: balance restored", top_up.no, refund.out_refund_no)
