"""The streaming xlsx export of orders and `manage.py export_orders`."""

import io
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from openpyxl import load_workbook

from catalog.tests.factories import SkuFactory
from orders.exports import HEADERS, orders_created_between, orders_export_write
from orders.models import Order
from orders.services import order_ship, order_transition
from orders.tests.factories import PickupPointFactory
from orders.tests.providers import TenPercentOff, use_providers

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


def pay(order):
    assert order_transition(
        order_id=order.pk, from_status="pending_payment", to_status="paid", actor="wechat"
    )
    order.refresh_from_db()
    return order


def created_at(order, moment):
    """Move an order's creation time (the tests' stand-in for a clock)."""
    Order.objects.filter(pk=order.pk).update(created_at=moment)
    order.refresh_from_db()
    return order


def read_rows(file):
    sheet = load_workbook(file, read_only=True).worksheets[0]
    return list(sheet.iter_rows(values_only=True))


def export(orders):
    buffer = io.BytesIO()
    count = orders_export_write(orders, buffer)
    buffer.seek(0)
    return count, read_rows(buffer)


def by_header(row):
    return dict(zip(HEADERS, row, strict=True))


def test_export_has_one_row_per_order_with_amounts_in_yuan(
    member, address, place_order, monkeypatch
):
    # given: 12 orders, with a named discount so 优惠 is not zero
    use_providers(monkeypatch, TenPercentOff())
    member.phone = "13911112222"
    member.save()
    orders = [
        place_order(member, [(SkuFactory(price_fen=1999 + n, stock=5), 1 + n % 3)], address=address)
        for n in range(12)
    ]
    shipped = pay(orders[0])
    order_ship(order_id=shipped.pk, carrier="SF", tracking_no="SF900", actor="admin:boss")
    Order.objects.filter(pk=orders[1].pk).update(merchant_note="加急")
    # when
    count, rows = export(Order.objects.all())
    # then
    assert count == 12
    assert rows[0] == HEADERS
    assert len(rows) == 13
    exported = {row[0]: by_header(row) for row in rows[1:]}
    for order in Order.objects.all():
        row = exported[order.no]
        assert row["商品金额"] == pytest.approx(order.goods_fen / 100)
        assert row["优惠"] == pytest.approx(order.discount_fen / 100)
        assert row["运费"] == pytest.approx(order.shipping_fen / 100)
        assert row["应付"] == pytest.approx(order.payable_fen / 100)
        assert row["微信支付"] == pytest.approx(order.wechat_pay_fen / 100)
        assert Decimal(str(row["应付"])) * 100 == order.payable_fen
        assert row["手机"] == "13911112222"
        assert row["配送方式"] == "快递"
        assert address.detail in row["收货人/地址 或 自提点"]
        assert order.discount_fen > 0
    first = exported[shipped.no]
    assert (first["状态"], first["快递公司"], first["快递单号"]) == ("待收货", "顺丰速运", "SF900")
    assert isinstance(first["支付时间"], datetime)
    assert exported[orders[1].no]["商家备注"] == "加急"
    assert exported[orders[1].no]["状态"] == "待付款"
    assert "×" in exported[orders[2].no]["商品明细"]


def test_export_of_a_pickup_order_names_the_point(member, place_order):
    point = PickupPointFactory(name="龙井路自提点")
    order = place_order(member, [(SkuFactory(price_fen=800), 2)], pickup_point=point)
    _, rows = export(Order.objects.all())
    row = by_header(rows[1])
    assert row["订单号"] == order.no
    assert row["配送方式"] == "自提"
    assert row["收货人/地址 或 自提点"].startswith("龙井路自提点")
    assert row["商品金额"] == pytest.approx(16.0)


def test_export_queries_do_not_grow_with_orders(
    member, address, place_order, django_assert_max_num_queries
):
    for _ in range(5):
        place_order(member, [(SkuFactory(stock=5), 1), (SkuFactory(stock=5), 1)], address=address)
    with django_assert_max_num_queries(4):  # orders (one chunk) + their lines
        count, _ = export(Order.objects.all())
    assert count == 5


def test_date_filter_is_inclusive_in_shanghai_time(member, address, place_order):
    # given: orders just around the period 2025-03-01 … 2025-03-02 (Beijing time)
    sku = SkuFactory(stock=20)
    moments = {
        "before": datetime(2025, 2, 28, 23, 59, 59, tzinfo=SHANGHAI),
        "first": datetime(2025, 3, 1, 0, 0, 0, tzinfo=SHANGHAI),
        "last": datetime(2025, 3, 2, 23, 59, 59, tzinfo=SHANGHAI),
        "after": datetime(2025, 3, 3, 0, 0, 0, tzinfo=SHANGHAI),
    }
    orders = {
        name: created_at(place_order(member, [(sku, 1)], address=address), moment)
        for name, moment in moments.items()
    }
    # when
    selected = orders_created_between(date_from=date(2025, 3, 1), date_to=date(2025, 3, 2))
    # then
    assert set(selected.values_list("no", flat=True)) == {orders["first"].no, orders["last"].no}
    one_day = orders_created_between(date_from=date(2025, 3, 3), date_to=date(2025, 3, 3))
    assert list(one_day.values_list("no", flat=True)) == [orders["after"].no]


def test_command_writes_a_readable_workbook(member, address, place_order, tmp_path):
    # given
    sku = SkuFactory(price_fen=1234, stock=20)
    inside = [
        created_at(
            place_order(member, [(sku, 1)], address=address),
            datetime(2025, 5, day, 12, tzinfo=SHANGHAI),
        )
        for day in (1, 2, 3)
    ]
    pay(inside[0])
    created_at(
        place_order(member, [(sku, 1)], address=address), datetime(2025, 5, 4, 9, tzinfo=SHANGHAI)
    )
    output = tmp_path / "may.xlsx"
    stdout, stderr = io.StringIO(), io.StringIO()
    # when
    call_command(
        "export_orders",
        "--from",
        "2025-05-01",
        "--to",
        "2025-05-03",
        "--output",
        str(output),
        stdout=stdout,
        stderr=stderr,
    )
    # then
    rows = read_rows(output)
    assert rows[0] == HEADERS
    assert [row[0] for row in rows[1:]] == [order.no for order in inside]  # oldest first
    # Beijing wall-clock time, without a zone (Excel has none)
    assert rows[1][1] == datetime(2025, 5, 1, 12, tzinfo=SHANGHAI).replace(tzinfo=None)
    assert rows[1][8] == pytest.approx(12.34)
    assert "已导出 3 个订单" in stdout.getvalue()
    # and --status narrows it
    call_command(
        "export_orders",
        "--from",
        "2025-05-01",
        "--to",
        "2025-05-03",
        "--status",
        "paid",
        "--output",
        str(output),
        stdout=stdout,
        stderr=stderr,
    )
    assert [row[0] for row in read_rows(output)[1:]] == [inside[0].no]


def test_command_reports_progress_every_chunk(member, address, place_order, tmp_path, monkeypatch):
    # given: a chunk of 2 instead of 1000, so 5 orders pass two progress marks
    monkeypatch.setattr("orders.exports.EXPORT_CHUNK_SIZE", 2)
    sku = SkuFactory(stock=20)
    for _ in range(5):
        created_at(
            place_order(member, [(sku, 1)], address=address),
            datetime(2025, 6, 1, 10, tzinfo=SHANGHAI),
        )
    stderr, stdout = io.StringIO(), io.StringIO()
    # when
    call_command(
        "export_orders",
        "--from",
        "2025-06-01",
        "--to",
        "2025-06-01",
        "--output",
        str(tmp_path / "june.xlsx"),
        stdout=stdout,
        stderr=stderr,
    )
    # then
    assert stderr.getvalue().split() == ["已导出", "2", "行…", "已导出", "4", "行…"]
    assert "已导出 5 个订单" in stdout.getvalue()
    assert len(read_rows(tmp_path / "june.xlsx")) == 6


def test_command_refuses_bad_dates(tmp_path):
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("export_orders", "--from", "2025/01/01", "--to", "2025-01-02")
    with pytest.raises(CommandError, match="不能晚于"):
        call_command("export_orders", "--from", "2025-01-03", "--to", "2025-01-02")
