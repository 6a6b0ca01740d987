"""Orders to xlsx with constant memory, for the admin's 导出所选 and `manage.py export_orders`.

Orders come from the database in chunks (`iterator(chunk_size=…)`, each chunk's lines
prefetched in one query) and openpyxl's write-only workbook spools each row to a temporary file
as it is appended, so neither side holds more than one chunk, whatever the number of orders.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from .models import Order, OrderLine
from .services.merchant import carrier_label

EXPORT_CHUNK_SIZE = 1000
HEADERS = (
    "订单号",
    "下单时间",
    "状态",
    "会员",
    "手机",
    "配送方式",
    "收货人/地址 或 自提点",
    "商品明细",
    "商品金额",
    "优惠",
    "运费",
    "应付",
    "微信支付",
    "支付时间",
    "快递公司",
    "快递单号",
    "买家留言",
    "商家备注",
)
COLUMN_WIDTHS = (22, 20, 10, 16, 14, 10, 48, 48, 12, 12, 12, 12, 12, 20, 12, 22, 30, 30)
AMOUNT_FORMAT = "0.00"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
ExportProgress = Callable[[int], None]


def orders_created_between(
    *, date_from: date, date_to: date, status: str | None = None
) -> QuerySet[Order]:
    """Orders created on date_from … date_to (both inclusive, in the shop's time zone,
    Asia/Shanghai), optionally in one status."""
    shop_tz = timezone.get_default_timezone()
    start = datetime.combine(date_from, time.min, tzinfo=shop_tz)
    end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=shop_tz)
    orders = Order.objects.filter(created_at__gte=start, created_at__lt=end)
    return orders.filter(status=status) if status else orders


def _export_queryset(orders: QuerySet[Order]) -> QuerySet[Order]:
    return (
        orders.select_related("member", "pickup_point")
        .defer("breakdown", "client_token", "request_hash")
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=OrderLine.objects.only(
                    "id", "order_id", "title", "spec_text", "quantity"
                ).order_by("id"),
            )
        )
        .order_by("created_at", "id")
    )


def orders_export_write(
    orders: QuerySet[Order],
    file: IO[bytes] | str | Path,
    *,
    progress: ExportProgress | None = None,
) -> int:
    """Write `orders` (oldest first) as an xlsx workbook to `file`; returns the number of
    orders. `progress(count)` is called every EXPORT_CHUNK_SIZE orders."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)  # rows go to a temporary file, not to memory
    sheet = workbook.create_sheet("订单")
    for index, width in enumerate(COLUMN_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    sheet.append(HEADERS)

    def amount(fen: int) -> WriteOnlyCell:
        cell = WriteOnlyCell(sheet, value=Decimal(fen) / 100)
        cell.number_format = AMOUNT_FORMAT
        return cell

    def moment(value: datetime | None) -> WriteOnlyCell | None:
        if value is None:
            return None
        # Excel has no time zones: Beijing wall-clock time, as the merchant reads it.
        cell = WriteOnlyCell(sheet, value=timezone.localtime(value).replace(tzinfo=None))
        cell.number_format = DATETIME_FORMAT
        return cell

    count = 0
    for order in _export_queryset(orders).iterator(chunk_size=EXPORT_CHUNK_SIZE):
        sheet.append(
            [
                order.no,
                moment(order.created_at),
                order.status_label,
                order.member.nickname or order.member.openid,
                order.member.phone,
                order.get_delivery_type_display(),
                order_destination_text(order),
                order_items_text(order),
                amount(order.goods_fen),
                amount(order.discount_fen),
                amount(order.shipping_fen),
                amount(order.payable_fen),
                amount(order.wechat_pay_fen),
                moment(order.paid_at),
                carrier_label(order.carrier),
                order.tracking_no,
                order.note,
                order.merchant_note,
            ]
        )
        count += 1
        if progress is not None and count % EXPORT_CHUNK_SIZE == 0:
            progress(count)
    workbook.save(file)
    return count


def orders_export_tempfile(orders: QuerySet[Order]) -> tuple[IO[bytes], int]:
    """The workbook in a temporary file, rewound, and the number of orders. The file is
    deleted when closed (a FileResponse closes it after sending)."""
    file = tempfile.NamedTemporaryFile(suffix=".xlsx")  # noqa: SIM115  the caller closes it
    try:
        count = orders_export_write(orders, file)
    except BaseException:
        file.close()
        raise
    file.seek(0)
    return file, count


def order_destination_text(order: Order) -> str:
    """ "张三 13800138000 浙江省杭州市西湖区文三路 1 号", or the pickup point's name and address."""
    if order.delivery_type == Order.DeliveryType.PICKUP:
        point = order.pickup_point
        if point is None:
            return ""
        return f"{point.name}（{point.province}{point.city}{point.district}{point.address}）"
    address: dict[str, Any] = order.address or {}
    region = "".join(
        str(address.get(key, "")) for key in ("province", "city", "district", "detail")
    )
    return " ".join(part for part in (address.get("name"), address.get("phone"), region) if part)


def order_items_text(order: Order) -> str:
    """ "西湖龙井 规格:250g ×2；…" from the prefetched lines."""
    return "；".join(
        " ".join(part for part in (line.title, line.spec_text) if part) + f" ×{line.quantity}"
        for line in order.lines.all()
    )
