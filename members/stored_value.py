"""Stored value (储值): the member's balance column, changed only by conditional UPDATEs.

The money ledger rows for these moves (LedgerEntry channel=balance) are written by the payments
app, which may import members but not the other way round. A debit never takes the balance
below zero: the UPDATE only matches while `balance_fen >= amount`.
"""

from __future__ import annotations

import logging

from django.db.models import F

from mall.errors import BalanceInsufficient

from .models import Member

logger = logging.getLogger(__name__)


def stored_value_debit(*, member_id: int, amount_fen: int, reference: str) -> int:
    """Take amount_fen from the member's balance; returns the balance left. Call it inside the
    transaction that records why (the order, the refund), so both commit or neither.

    Raises: BalanceInsufficient (nothing taken).
    """
    if amount_fen <= 0:
        raise ValueError("a stored-value debit is positive")
    taken = Member.objects.filter(pk=member_id, balance_fen__gte=amount_fen).update(
        balance_fen=F("balance_fen") - amount_fen
    )
    if not taken:
        left = Member.objects.filter(pk=member_id).values_list("balance_fen", flat=True).get()
        raise BalanceInsufficient(balance_fen=left, amount_fen=amount_fen, reference=reference)
    logger.info("stored value: member %s −%s fen (%s)", member_id, amount_fen, reference)
    return Member.objects.filter(pk=member_id).values_list("balance_fen", flat=True).get()


def stored_value_credit(*, member_id: int, amount_fen: int, reference: str) -> None:
    """Give amount_fen back to (or top up) the member's balance, in the caller's transaction."""
    if amount_fen <= 0:
        raise ValueError("a stored-value credit is positive")
    Member.objects.filter(pk=member_id).update(balance_fen=F("balance_fen") + amount_fen)
    logger.info("stored value: member %s +%s fen (%s)", member_id, amount_fen, reference)
