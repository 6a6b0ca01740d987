"""The money ledger: append-only rows, one per movement, unique by external key."""

from __future__ import annotations

from datetime import datetime

from ..sql import ledger_insert


def ledger_record(
    *,
    kind: str,
    direction: str,
    channel: str,
    amount_fen: int,
    external_key: str,
    occurred_at: datetime,
    order_id: int | None = None,
    attempt_id: int | None = None,
    refund_id: int | None = None,
    member_id: int | None = None,
    note: str = "",
) -> bool:
    """Append one ledger row; returns False (and writes nothing) when a row with this
    external_key exists already, so a replayed event is recorded once.

    The unique index is the judge, even when two callers race (payments.sql.ledger_insert).
    """
    if amount_fen <= 0:
        raise ValueError("ledger amounts are positive; the direction says in or out")
    return ledger_insert(
        kind=kind,
        direction=direction,
        channel=channel,
        amount_fen=amount_fen,
        external_key=external_key,
        occurred_at=occurred_at,
        order_id=order_id,
        attempt_id=attempt_id,
        refund_id=refund_id,
        member_id=member_id,
        note=note[:200],
    )
