"""Stored-value top-ups (储值充值): a WeChat Pay trade whose money goes to the member's balance,
plus the bonus of the best active tier (充100送10) decided when the top-up is created.

The top-up's attempt is paid through the same settlement as an order's (`payment_settle`): one
ledger row "wxpay:<transaction_id>", then `top_up_paid_locked` moves the top-up pending → paid
with a conditional update and credits amount + bonus with two balance ledger rows, all in the
settlement's transaction, so a duplicated notification credits nothing the second time.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from mall.errors import IdempotencyKeyReused, TopUpAmountInvalid
from members.models import Member
from members.selectors import member_balance_fen_get
from members.stored_value import stored_value_credit

from .. import wechat
from ..models import LedgerEntry, PaymentAttempt, TopUp, TopUpTier
from .ledger import ledger_record
from .prepay import MIN_TIME_EXPIRE, PREPAY_REUSE_MARGIN, PREPAY_TTL, payment_notify_url
from .refunds import refund_for_attempt_locked

logger = logging.getLogger(__name__)

TOP_UP_MAX_FEN = 5_000_000  # 50000 yuan


def top_up_bonus_for(amount_fen: int) -> int:
    """The bonus of the best active tier the amount reaches (0 without one)."""
    bonus = TopUpTier.objects.filter(is_active=True, threshold_fen__lte=amount_fen).aggregate(
        m=Max("bonus_fen")
    )["m"]
    return bonus or 0


def _top_up_data(top_up: TopUp) -> dict[str, Any]:
    return {
        "no": top_up.no,
        "amount_fen": top_up.amount_fen,
        "bonus_fen": top_up.bonus_fen,
        "status": top_up.status,
        "paid_at": top_up.paid_at,
    }


def top_up_create(
    *, member: Member, amount_fen: int, client_token: str, client_ip: str
) -> dict[str, Any]:
    """Create (or, for a repeated Idempotency-Key, resume) a top-up and answer the
    wx.requestPayment parameters: `{"top_up": {…}, "paid": False, "request_payment": {…}}`, or
    `"paid": True` when that top-up is paid already. A valid prepay is reused.

    Raises: TopUpAmountInvalid, IdempotencyKeyReused (same key, other amount), WechatUnavailable.
    """
    if not 0 < amount_fen <= TOP_UP_MAX_FEN:
        raise TopUpAmountInvalid(amount_fen=amount_fen, max_fen=TOP_UP_MAX_FEN)
    now = timezone.now()
    top_up = _top_up_get_or_create(member=member, amount_fen=amount_fen, client_token=client_token)
    with transaction.atomic():
        top_up = TopUp.objects.select_for_update().get(pk=top_up.pk)
        if top_up.status != TopUp.Status.PENDING:
            return {"top_up": _top_up_data(top_up), "paid": True}
        reusable = (
            PaymentAttempt.objects.filter(
                top_up=top_up,
                status=PaymentAttempt.Status.PREPAID,
                prepay_expires_at__gt=now + PREPAY_REUSE_MARGIN,
            )
            .order_by("-seq")
            .values_list("prepay_id", flat=True)
            .first()
        )
        if reusable:
            return {
                "top_up": _top_up_data(top_up),
                "paid": False,
                "request_payment": wechat.jsapi_params(reusable),
            }
        seq = (PaymentAttempt.objects.filter(top_up=top_up).aggregate(m=Max("seq"))["m"] or 0) + 1
        attempt = PaymentAttempt.objects.create(
            top_up=top_up,
            seq=seq,
            out_trade_no=f"{top_up.no}P{seq}",
            amount_fen=top_up.amount_fen,
            time_expire=(now + max(PREPAY_TTL, MIN_TIME_EXPIRE)).replace(microsecond=0),
            created_at=now,
        )
    try:  # no lock is held here
        prepay_id = wechat.unified_order(
            out_trade_no=attempt.out_trade_no,
            total_fee=attempt.amount_fen,
            body="余额充值",
            openid=member.openid,
            notify_url=payment_notify_url(),
            client_ip=client_ip,
            time_expire=attempt.time_expire,
        )
    except wechat.WechatPayError as exc:
        PaymentAttempt.objects.filter(pk=attempt.pk).update(
            last_error=f"{exc.err_code} {exc.errmsg}"[:200]
        )
        raise
    PaymentAttempt.objects.filter(pk=attempt.pk, status=PaymentAttempt.Status.CREATED).update(
        status=PaymentAttempt.Status.PREPAID,
        prepay_id=prepay_id,
        prepay_expires_at=min(now + PREPAY_TTL, attempt.time_expire),
    )
    return {
        "top_up": _top_up_data(top_up),
        "paid": False,
        "request_payment": wechat.jsapi_params(prepay_id),
    }


def _top_up_get_or_create(*, member: Member, amount_fen: int, client_token: str) -> TopUp:
    existing = TopUp.objects.filter(member=member, client_token=client_token).first()
    if existing is None:
        no = "T" + timezone.localdate().strftime("%Y%m%d") + secrets.token_hex(5).upper()
        try:
            with transaction.atomic():
                return TopUp.objects.create(
                    member=member,
                    no=no,
                    amount_fen=amount_fen,
                    bonus_fen=top_up_bonus_for(amount_fen),
                    client_token=client_token,
                )
        except IntegrityError:  # the same key raced in: answer that one
            existing = TopUp.objects.get(member=member, client_token=client_token)
    if existing.amount_fen != amount_fen:
        raise IdempotencyKeyReused("同一请求键已用于另一笔充值", top_up_no=existing.no)
    return existing


def top_up_paid_locked(
    *, attempt: PaymentAttempt, transaction_id: str, total_fee: int, paid_at: datetime, source: str
) -> bool:
    """Settle a top-up's attempt WeChat reports paid, inside the settlement's transaction (the
    attempt row is locked): the WeChat ledger row, the attempt paid, the top-up pending → paid and
    amount + bonus credited with their balance ledger rows. Returns whether the top-up was won;
    a second paid attempt (the shopper paid twice, or a superseded attempt's payment arrives
    late) keeps its money recorded and is refunded automatically, never credited."""
    top_up = TopUp.objects.only("no", "member_id", "amount_fen", "bonus_fen").get(
        pk=attempt.top_up_id
    )
    recorded = ledger_record(
        kind=LedgerEntry.Kind.WECHAT_PAYMENT,
        direction=LedgerEntry.Direction.IN,
        channel=LedgerEntry.Channel.WECHAT,
        amount_fen=total_fee,
        external_key=f"wxpay:{transaction_id}",
        occurred_at=paid_at,
        attempt_id=attempt.pk,
        member_id=top_up.member_id,
        note=f"{attempt.out_trade_no} ({source})",
    )
    if not recorded:
        logger.error("ledger has wxpay:%s but attempt %s was not paid", transaction_id, attempt.pk)
    PaymentAttempt.objects.filter(pk=attempt.pk).update(
        status=PaymentAttempt.Status.PAID,
        transaction_id=transaction_id,
        paid_at=paid_at,
        last_error="",
    )
    won = TopUp.objects.filter(pk=top_up.pk, status=TopUp.Status.PENDING).update(
        status=TopUp.Status.PAID, paid_at=paid_at
    )
    if not won:
        logger.warning(
            "top-up %s paid again by %s (%s): refunding it",
            top_up.no,
            transaction_id,
            attempt.out_trade_no,
        )
        refund_for_attempt_locked(attempt=attempt, reason="充值已到账，重复付款自动退回")
        return False
    credit = top_up.amount_fen + top_up.bonus_fen
    stored_value_credit(member_id=top_up.member_id, amount_fen=credit, reference=top_up.no)
    ledger_record(
        kind=LedgerEntry.Kind.BALANCE_TOP_UP,
        direction=LedgerEntry.Direction.IN,
        channel=LedgerEntry.Channel.BALANCE,
        amount_fen=top_up.amount_fen,
        external_key=f"balance:topup:{top_up.no}",
        occurred_at=paid_at,
        attempt_id=attempt.pk,
        member_id=top_up.member_id,
        note="余额充值",
    )
    if top_up.bonus_fen:
        ledger_record(
            kind=LedgerEntry.Kind.BALANCE_BONUS,
            direction=LedgerEntry.Direction.IN,
            channel=LedgerEntry.Channel.BALANCE,
            amount_fen=top_up.bonus_fen,
            external_key=f"balance:bonus:{top_up.no}",
            occurred_at=paid_at,
            attempt_id=attempt.pk,
            member_id=top_up.member_id,
            note="充值赠送",
        )
    return True


def balance_overview(*, member: Member, limit: int = 20) -> dict[str, Any]:
    """The member's balance and latest balance ledger rows."""
    balance = member_balance_fen_get(member_id=member.pk)
    rows = (
        LedgerEntry.objects.filter(member=member, channel=LedgerEntry.Channel.BALANCE)
        .order_by("-occurred_at", "-id")
        .values("kind", "direction", "amount_fen", "external_key", "note", "occurred_at")[:limit]
    )
    return {
        "balance_fen": balance,
        "entries": [row | {"kind_label": LedgerEntry.Kind(row["kind"]).label} for row in rows],
    }
