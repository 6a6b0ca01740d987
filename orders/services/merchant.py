"""The merchant's writes on orders that the lifecycle does not cover: the merchant note and
shipping many orders from a spreadsheet (each row through `order_ship`).

Carriers are stored as WeChat's delivery ids (SF, ZTO …): 小程序发货信息管理 wants the
`express_company` code, not a name, and `order_ship` passes `Order.carrier` on as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from mall.errors import DomainError

from ..models import Order, OrderStatus
from .lifecycle import order_ship

# WeChat delivery id → name shown to the merchant; then the names people type for each.
CARRIERS: dict[str, str] = {
    "SF": "顺丰速运",
    "ZTO": "中通快递",
    "YTO": "圆通速递",
    "YD": "韵达快递",
    "STO": "申通快递",
    "EMS": "EMS",
    "JD": "京东物流",
    "JTSD": "极兔速递",
    "DBL": "德邦快递",
}
CARRIER_ALIASES: dict[str, str] = {
    "顺丰": "SF",
    "顺丰快递": "SF",
    "中通": "ZTO",
    "圆通": "YTO",
    "圆通快递": "YTO",
    "韵达": "YD",
    "韵达速递": "YD",
    "申通": "STO",
    "邮政": "EMS",
    "中国邮政": "EMS",
    "邮政ems": "EMS",
    "京东": "JD",
    "京东快递": "JD",
    "极兔": "JTSD",
    "极兔快递": "JTSD",
    "德邦": "DBL",
    "德邦物流": "DBL",
}
MERCHANT_NOTE_MAX = 500


def carrier_code_resolve(text: str) -> str | None:
    """ "顺丰" / "顺丰速运" / "sf" → "SF"; None for a carrier we do not know."""
    text = text.strip()
    if text.upper() in CARRIERS:
        return text.upper()
    by_name = {name: code for code, name in CARRIERS.items()}
    return by_name.get(text) or CARRIER_ALIASES.get(text) or CARRIER_ALIASES.get(text.lower())


def carrier_label(code: str) -> str:
    """The carrier's name for display (an unknown or old value is shown as stored)."""
    return CARRIERS.get(code, code)


def order_merchant_note_set(*, order_id: int, note: str) -> None:
    """Set the merchant's private note; writes only that column (the status and amounts are
    moved concurrently by payments and tasks and must not be overwritten with old values).

    Raises: django ValidationError (too long), Order.DoesNotExist.
    """
    note = note.strip()
    if len(note) > MERCHANT_NOTE_MAX:
        raise ValidationError({"merchant_note": f"商家备注最多 {MERCHANT_NOTE_MAX} 字"})
    if not Order.objects.filter(pk=order_id).update(merchant_note=note):
        raise Order.DoesNotExist(order_id)


# --- shipping from a spreadsheet ---
@dataclass(frozen=True)
class ShipmentRow:
    row: int  # the spreadsheet's row number, for the report
    order_no: str
    carrier: str  # a name or code as typed
    tracking_no: str
    problem: str = ""  # what the file reader found wrong with the row, reported as its error


@dataclass(frozen=True)
class ShipmentResult:
    SHIPPED = "shipped"
    ALREADY_SHIPPED = "already_shipped"
    ERROR = "error"

    row: int
    order_no: str
    carrier: str
    tracking_no: str
    outcome: str
    message: str = ""

    @property
    def outcome_label(self) -> str:
        return {"shipped": "已发货", "already_shipped": "此前已发货", "error": "失败"}[self.outcome]


def orders_ship_bulk(*, rows: Iterable[ShipmentRow], actor: str) -> Iterator[ShipmentResult]:
    """Ship each row's order through `order_ship` (one transaction per row), yielding one
    result per row: a bad row is reported and the next one goes on. The same shipment twice
    (a re-uploaded file) is "already shipped", not an error. Must not run inside a transaction.
    """
    for row in rows:
        yield _shipment_row_ship(row, actor=actor)


def _shipment_row_ship(row: ShipmentRow, *, actor: str) -> ShipmentResult:
    def result(outcome: str, message: str = "", carrier: str = row.carrier) -> ShipmentResult:
        return ShipmentResult(
            row=row.row,
            order_no=row.order_no,
            carrier=carrier,
            tracking_no=row.tracking_no,
            outcome=outcome,
            message=message,
        )

    if row.problem:
        return result(ShipmentResult.ERROR, row.problem)
    if not row.order_no:
        return result(ShipmentResult.ERROR, "缺少订单号")
    code = carrier_code_resolve(row.carrier)
    if code is None:
        known = "、".join(CARRIERS.values())
        return result(ShipmentResult.ERROR, f"未知快递公司「{row.carrier}」，可填：{known}")
    order = Order.objects.filter(no=row.order_no).only("pk", "status").first()
    if order is None:
        return result(ShipmentResult.ERROR, "订单不存在", carrier=code)
    was_shipped = order.status == OrderStatus.SHIPPED
    try:
        shipped = order_ship(
            order_id=order.pk, carrier=code, tracking_no=row.tracking_no, actor=actor
        )
    except DomainError as exc:
        return result(ShipmentResult.ERROR, exc.message, carrier=code)
    except ValidationError as exc:
        return result(ShipmentResult.ERROR, "；".join(exc.messages), carrier=code)
    # order_ship answers a repeated identical shipment with the order as it was.
    outcome = ShipmentResult.ALREADY_SHIPPED if was_shipped else ShipmentResult.SHIPPED
    return result(outcome, carrier=shipped.carrier)
