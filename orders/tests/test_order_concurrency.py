"""Races on real PostgreSQL connections: every thread opens its own."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from uuid import uuid4

import pytest
from django.db import connection
from django.utils import timezone

from catalog.models import Sku, StockLog
from catalog.tests.factories import SkuFactory
from mall.errors import OutOfStock
from members.tests.factories import MemberFactory
from orders.models import Order, OrderStatusLog
from orders.pricing import CheckoutRequest, DeliveryChoice, LineInput
from orders.services import order_cancel, order_create, orders_sweep
from orders.tasks import order_close_if_unpaid_task
from orders.tests.factories import AddressFactory


def _buy(member, address, sku, quantity=1, token=None):
    return order_create(
        member=member,
        client_token=token or uuid4().hex,
        checkout=CheckoutRequest(
            delivery=DeliveryChoice(address_id=address.pk),
            lines=(LineInput(sku_id=sku.pk, quantity=quantity),),
        ),
        expected_payable_fen=sku.price_fen * quantity,
    )


@pytest.mark.django_db(transaction=True)
def test_thirty_buyers_of_the_last_ten_units_never_oversell():
    # given
    sku = SkuFactory(price_fen=990, stock=10)
    buyers = [(m, AddressFactory(member=m)) for m in MemberFactory.create_batch(30)]
    start = threading.Barrier(len(buyers))
    sold_out = []

    def buy(buyer):
        member, address = buyer
        start.wait()
        try:
            _buy(member, address, sku)
        except OutOfStock:
            sold_out.append(member.pk)
        finally:
            connection.close()  # each thread opened its own DB connection

    # when
    with ThreadPoolExecutor(max_workers=len(buyers)) as pool:
        list(pool.map(buy, buyers))
    # then
    sku.refresh_from_db()
    assert sku.stock == 0
    assert Order.objects.count() == 10
    assert len(sold_out) == 20
    assert StockLog.objects.filter(sku=sku, change=-1).count() == 10


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("stock", [10, 1])
def test_one_member_retrying_one_key_concurrently_gets_one_order(stock):
    # given (one unit: the retries that waited for the first see it sold out, and must still
    # answer the first order rather than OutOfStock)
    sku = SkuFactory(price_fen=990, stock=stock)
    member = MemberFactory()
    address = AddressFactory(member=member)
    start = threading.Barrier(8)
    numbers = []

    def retry(_):
        start.wait()
        try:
            numbers.append(_buy(member, address, sku, token="same-key")[0].no)
        finally:
            connection.close()

    # when
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(retry, range(8)))
    # then
    assert len(set(numbers)) == 1
    assert len(numbers) == 8
    assert Order.objects.count() == 1
    assert Sku.objects.get(pk=sku.pk).stock == stock - 1


@pytest.mark.django_db(transaction=True)
def test_expiry_task_sweep_and_shopper_cancel_racing_restore_stock_once():
    # given: orders past their payment deadline
    sku = SkuFactory(price_fen=500, stock=100)
    member = MemberFactory()
    address = AddressFactory(member=member)
    orders = [_buy(member, address, sku, quantity=2)[0] for _ in range(6)]
    Order.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert Sku.objects.get(pk=sku.pk).stock == 88

    def expiry_task(order):
        order_close_if_unpaid_task(order.pk)

    def sweep(order):
        orders_sweep(batch_size=3)

    def shopper_cancel(order):
        order_cancel(order_id=order.pk, actor=f"member:{member.pk}", reason="不想要了")

    jobs = [
        (job, order)
        for order in orders
        for job in (expiry_task, sweep, shopper_cancel, expiry_task, sweep)
    ]
    start = threading.Barrier(len(jobs))

    def run(job_and_order):
        job, order = job_and_order
        start.wait()
        try:
            job(order)
        finally:
            connection.close()

    # when
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        list(pool.map(run, jobs))
    # then
    assert Sku.objects.get(pk=sku.pk).stock == 100
    for order in orders:
        assert StockLog.objects.filter(reference=order.no, reason="order_release").count() == 1
        assert OrderStatusLog.objects.filter(order=order, to_status="cancelled").count() == 1
    assert set(Order.objects.values_list("status", flat=True)) == {"cancelled"}


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_close_each_order_once():
    # given
    sku = SkuFactory(price_fen=500, stock=50)
    member = MemberFactory()
    address = AddressFactory(member=member)
    for _ in range(12):
        _buy(member, address, sku)
    Order.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    start = threading.Barrier(4)
    results = []

    def sweep(_):
        start.wait()
        try:
            results.append(orders_sweep(batch_size=100)["expired"])
        finally:
            connection.close()

    # when
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(sweep, range(4)))
    # then
    assert sum(results) == 12
    assert len(results) == 4
    assert Sku.objects.get(pk=sku.pk).stock == 50
    assert StockLog.objects.filter(reason="order_release").count() == 12
