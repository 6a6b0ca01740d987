"""Each unpaid order is expired when its payment time is up: with a broker, the orders a process
creates within a second share one delayed run of orders_expire_due_task."""

import time

import pytest
from celery.signals import after_task_publish

from catalog.models import Sku
from mall import coalesce
from orders.models import Order


@pytest.fixture
def real_worker(monkeypatch, real_worker):
    monkeypatch.setattr(coalesce, "_queued_at", {})  # no publish remembered from before


@pytest.mark.django_db(transaction=True)
def test_orders_created_together_share_one_delayed_expiry_run(
    settings, member, address, sku, place_order, real_worker
):
    # given: a one-second payment timeout; every task published is counted
    settings.ORDER_PAYMENT_TIMEOUT = 1
    published: list[str] = []

    def count(sender=None, **kwargs):
        published.append(sender)

    after_task_publish.connect(count, weak=False)
    try:
        # when: three orders in a row, nobody pays
        orders = [place_order(member, [(sku, 2)], address=address) for _ in range(3)]
        assert Sku.objects.get(pk=sku.pk).stock == 100 - 6
        # then: all three cancelled by one run, their stock back once
        cancelled = Order.objects.filter(pk__in=[o.pk for o in orders], status="cancelled")
        deadline = time.monotonic() + 15
        while cancelled.count() < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        after_task_publish.disconnect(count)
    assert cancelled.count() == 3
    assert Sku.objects.get(pk=sku.pk).stock == 100
    assert published.count("orders.tasks.orders_expire_due_task") == 1, published
    assert "orders.tasks.order_close_if_unpaid_task" not in published
