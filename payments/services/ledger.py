"""The money ledger: append-only rows, one per movement, unique by external key."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ..models import LedgerEntry

_COLUMNS = (
    "kind",
    "direction",
    "channel",
    "amount_fen",
    "external_key",
    "order_id",
    "attempt_id",
    "refund_id",
    "member_id",
    "note",
    "occurred_at",
    "created_at",
)


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

    One `INSERT … ON CONFLICT DO NOTHING RETURNING`: no savepoint, and the unique index is the
    judge even when two callers race.
    """
    if amount_fen <= 0:
        raise ValueError("ledger amounts are positive; the direction says in or out")
    if connection.vendor != "postgresql":
        return _ledger_record_portable(
            LedgerEntry(
                kind=kind,
                direction=direction,
                channel=channel,
                amount_fen=amount_fen,
                external_key=external_key,
                order_id=order_id,
                attempt_id=attempt_id,
                refund_id=refund_id,
                member_id=member_id,
                note=note[:200],
                occurred_at=occurred_at,
                created_at=timezone.now(),
            )
        )
    ops = connection.ops
    values = [
        kind,
        direction,
        channel,
        amount_fen,
        external_key,
        order_id,
        attempt_id,
        refund_id,
        member_id,
        note[:200],
        ops.adapt_datetimefield_value(occurred_at),
        ops.adapt_datetimefield_value(timezone.now()),
    ]
    table = connection.ops.quote_name(LedgerEntry._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in _COLUMNS)
    placeholders = ", ".join(["%s"] * len(_COLUMNS))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) "  # noqa: S608 - names are ours
            "ON CONFLICT (external_key) DO NOTHING RETURNING id",
            values,
        )
        return cursor.fetchone() is not None


def _ledger_record_portable(entry: LedgerEntry) -> bool:
    """ledger_record through the ORM (the embedded mode's SQLite): the unique external key is
    still the judge; a savepoint keeps the caller's transaction usable after a conflict."""
    try:
        with transaction.atomic():
            entry.save(force_insert=True)
    except IntegrityError:
        if LedgerEntry.objects.filter(external_key=entry.external_key).exists():
            return False  # a replay
        raise
    return True
