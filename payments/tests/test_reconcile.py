"""对账: WeChat's bill (from the simulator's own records) against the ledger."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from catalog.tests.factories import SkuFactory
from orders.services import order_cancel
from payments.models import LedgerEntry, PaymentAttempt, ReconciliationRun, Refund
from payments.services import (
    BillFormatError,
    RefundLineInput,
    bill_parse,
    ledger_record,
    payment_attempt_close,
    refund_query_sync,
    wechat_bill_reconcile,
    yuan_to_fen,
)
from payments.tests.conftest import pay_and_settle, place_order, refund_and_settle

pytestmark = pytest.mark.django_db

BILL = (
    "\ufeff交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
    "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
    "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\r\n"
    "`2026-01-01 10:00:00,`wx1,`19,`0,`,`4200A,`O1P1,`o1,`JSAPI,`SUCCESS,`OTHERS,`CNY,`12.34,"
    "`0.00,`0,`0,`0.00,`0.00,`,`,`茶,叶,`,`0.07000,`0.60%,`12.34,`0.00,`\r\n"
    "`2026-01-01 11:00:00,`wx1,`19,`0,`,`4200A,`O1P1,`o1,`JSAPI,`REFUND,`OTHERS,`CNY,`0.00,"
    "`0.00,`5030B,`RO1,`0.5,`0.00,`ORIGINAL,`SUCCESS,`茶,叶,`,`-0.00000,`0.60%,`0.00,`0.50,`\r\n"
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n"
    "`2,`12.34,`0.50,`0.00,`0.07000,`12.34,`0.50\r\n"
)


def test_bill_parse_strips_the_bom_and_backquotes_and_reads_yuan_exactly():
    bill = bill_parse(BILL)
    assert list(bill.payments) == ["4200A"]
    assert bill.payments["4200A"].total_fen == 1234
    assert bill.payments["4200A"].out_trade_no == "O1P1"
    refund = bill.refunds["RO1"]
    assert (refund.refund_fen, refund.refund_status, refund.transaction_id) == (
        50,
        "SUCCESS",
        "4200A",
    )
    assert (bill.summary_count, bill.summary_settlement_fen, bill.summary_refund_fen) == (
        2,
        1234,
        50,
    )


@pytest.mark.parametrize(
    ("text", "fen"),
    [("0.01", 1), ("1.05", 105), ("0.1", 10), ("19.99", 1999), ("7", 700), ("-3.50", -350)],
)
def test_yuan_to_fen_is_exact(text, fen):
    assert yuan_to_fen(text) == fen


@pytest.mark.parametrize("text", ["", "1.234", "1,00", "abc", "1e3", "0x10"])
def test_yuan_to_fen_refuses_anything_else(text):
    with pytest.raises(BillFormatError):
        yuan_to_fen(text)


def test_a_bill_without_a_summary_is_refused():
    with pytest.raises(BillFormatError):
        bill_parse(BILL.split("总交易单数")[0])


@pytest.fixture
def mixed_day(shopper, wechat_sim, sim_pay, django_capture_on_commit_callbacks):
    """Payments, a partial and a full refund, a payment of a cancelled order refunded
    automatically, an unpaid order: all through WeChat (the simulator)."""
    wechat_sim.control("POST", "faults", json={"refund_delay_s": 0})
    skus = [SkuFactory(price_fen=price, stock=20) for price in (1999, 501, 8800)]
    paid = [place_order(shopper.member, [(sku, 2)]) for sku in skus]
    for order in paid:
        pay_and_settle(shopper, order, sim_pay)
    refund_and_settle(
        django_capture_on_commit_callbacks,
        order_id=paid[0].pk,
        lines=[RefundLineInput(order_line_id=paid[0].lines.get().pk, quantity=1)],
        reason="",
        requested_by="admin:boss",
        restock=False,
    )
    refund_and_settle(
        django_capture_on_commit_callbacks,
        order_id=paid[1].pk,
        lines=None,
        reason="",
        requested_by="admin:boss",
        restock=True,
    )
    late = place_order(shopper.member, [(skus[0], 1)])
    answer = shopper.pay(late)
    order_cancel(order_id=late.pk, actor="member:1", reason="")
    sim_pay(answer)
    with django_capture_on_commit_callbacks(execute=True):
        payment_attempt_close(attempt_id=PaymentAttempt.objects.get(order=late).pk)
    refund_query_sync(refund_id=Refund.objects.get(order=late).pk)
    shopper.pay(place_order(shopper.member, [(skus[2], 1)]))  # never paid
    return paid, late


def test_a_mixed_day_reconciles_with_no_differences(mixed_day):
    # when
    out = StringIO()
    call_command("reconcile", "--date", timezone.localdate().isoformat(), stdout=out)
    # then
    run = ReconciliationRun.objects.get()
    assert (run.status, run.differences_count, run.has_bill) == ("matched", 0, True)
    assert (run.ours_payment_count, run.ours_refund_count) == (4, 3)
    assert (run.theirs_payment_count, run.theirs_refund_count) == (4, 3)
    assert (run.ours_payment_fen, run.ours_refund_fen) == (
        run.theirs_payment_fen,
        run.theirs_refund_fen,
    )
    net = sum(
        e.amount_fen if e.direction == "in" else -e.amount_fen
        for e in LedgerEntry.objects.filter(channel="wechat")
    )
    assert net == run.theirs_payment_fen - run.theirs_refund_fen
    assert "差异 0 条" in out.getvalue()


def test_each_kind_of_difference_is_reported(mixed_day, wechat_sim):
    # given: the ledger tampered with (append-only in the app; a bad migration or hand edit here)
    paid, late = mixed_day
    payments = LedgerEntry.objects.filter(kind="wechat_payment").order_by("id")
    missing_here = payments[2]
    missing_here.delete()
    status_attempt = PaymentAttempt.objects.get(order=paid[1])
    LedgerEntry.objects.filter(attempt=status_attempt, kind="wechat_payment").delete()
    PaymentAttempt.objects.filter(pk=status_attempt.pk).update(status="prepaid")
    LedgerEntry.objects.filter(attempt__order=paid[0], kind="wechat_payment").update(amount_fen=1)
    ledger_record(
        kind="wechat_payment",
        direction="in",
        channel="wechat",
        amount_fen=100,
        external_key="wxpay:4200FAKE",
        occurred_at=timezone.now(),
    )
    refund = Refund.objects.get(order=late)
    LedgerEntry.objects.filter(refund=refund).delete()
    Refund.objects.filter(pk=refund.pk).update(status="processing")
    # when
    out = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("reconcile", "--date", timezone.localdate().isoformat(), stdout=out)
    # then
    assert failed.value.returncode == 1
    run = ReconciliationRun.objects.get()
    found = sorted((d.kind, d.out_refund_no or d.transaction_id) for d in run.differences.all())
    assert found == sorted(
        [
            ("missing_here", missing_here.external_key.removeprefix("wxpay:")),
            ("status_differs", status_attempt.transaction_id),
            ("amount_differs", PaymentAttempt.objects.get(order=paid[0]).transaction_id),
            ("missing_there", "4200FAKE"),
            ("status_differs", refund.out_refund_no),
        ]
    )
    assert run.status == "differences"
    assert "差异 5 条" in out.getvalue()


def test_a_day_without_a_bill(wechat_sim):
    run = wechat_bill_reconcile(bill_date=timezone.localdate().replace(year=2020))
    assert (run.has_bill, run.status, run.differences_count) == (False, "matched", 0)


def test_the_command_defaults_to_yesterday_and_checks_the_date(wechat_sim):
    out = StringIO()
    call_command("reconcile", stdout=out)
    yesterday = timezone.localdate() - timezone.timedelta(days=1)
    assert ReconciliationRun.objects.get().bill_date == yesterday
    with pytest.raises(CommandError):
        call_command("reconcile", "--date", "2026/01/01")


def test_the_beat_runs_reconciliation_each_morning_and_the_safety_nets(settings, wechat_sim):
    from celery.schedules import crontab

    from payments.tasks import reconcile_task

    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["payments-reconcile"]["schedule"] == crontab(hour=9, minute=30)
    assert schedule["payments-sync-pending"]["schedule"] == 120.0
    assert "payments-refunds-sync" in schedule
    result = reconcile_task(timezone.localdate().isoformat())
    assert result["differences"] == 0
    assert ReconciliationRun.objects.get(pk=result["run_id"]).bill_date == timezone.localdate()
