"""Reads of the payments app."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Sum

from orders.models import Order, OrderLine
from orders.selectors import order_lines_list

from .models import LedgerEntry, Refund, RefundLine


@dataclass(frozen=True)
class RefundableLine:
    line: OrderLine
    in_flight_quantity: int  # in refunds WeChat has not finished
    refundable_quantity: int


def order_refundable_lines(*, order: Order) -> list[RefundableLine]:
    """Each line of the order with what can still be refunded (in two queries)."""
    lines = order_lines_list(order_id=order.pk)
    in_flight = dict(
        RefundLine.objects.filter(
            order_line__order=order, refund__status__in=Refund.IN_FLIGHT_STATUSES
        )
        .values("order_line_id")
        .annotate(qty=Sum("quantity"))
        .values_list("order_line_id", "qty")
    )
    return [
        RefundableLine(
            line=line,
            in_flight_quantity=in_flight.get(line.pk, 0),
            refundable_quantity=max(
                line.quantity - line.refunded_quantity - in_flight.get(line.pk, 0), 0
            ),
        )
        for line in lines
    ]


def member_balance_ledger(*, member_id: int, limit: int = 100) -> list[LedgerEntry]:
    """The member's stored-value (储值) movements, newest first (the member admin shows them)."""
    return list(
        LedgerEntry.objects.filter(member_id=member_id, channel=LedgerEntry.Channel.BALANCE)
        .order_by("-id")
        .only("occurred_at", "kind", "direction", "amount_fen", "external_key", "note")[:limit]
    )
