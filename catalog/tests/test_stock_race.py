import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction
from django.db.models import Sum

from catalog.models import Sku, StockLog
from catalog.stock import StockLine, stock_deduct, stock_release, stock_reserve
from mall.errors import OutOfStock

from .factories import SkuFactory


@pytest.mark.django_db(transaction=True)
def test_stock_never_goes_negative_when_20_buyers_race_for_5_units():
    # given
    sku = SkuFactory(price_fen=1999, stock=5)
    buyers = 20
    start = threading.Barrier(buyers)
    successes: list[int] = []
    refusals: list[int] = []

    def buy(buyer: int) -> None:
        try:
            start.wait()
            try:
                stock_deduct(
                    sku_id=sku.pk,
                    qty=1,
                    reason=StockLog.Reason.ORDER_RESERVE,
                    reference=f"order-{buyer}",
                )
                successes.append(buyer)
            except OutOfStock:
                refusals.append(buyer)
        finally:
            connection.close()  # each thread opened its own DB connection

    # when
    with ThreadPoolExecutor(max_workers=buyers) as pool:
        list(pool.map(buy, range(buyers)))

    # then
    sku.refresh_from_db()
    assert sku.stock == 0
    assert (len(successes), len(refusals)) == (5, 15)
    logs = StockLog.objects.filter(sku=sku)
    assert logs.count() == 5
    assert logs.aggregate(total=Sum("change"))["total"] == -5
    assert sorted(logs.values_list("stock_after", flat=True)) == [0, 1, 2, 3, 4]
    assert all(log.stock_before - 1 == log.stock_after for log in logs)
    assert set(logs.values_list("reference", flat=True)) == {f"order-{b}" for b in successes}
    assert Sku.objects.filter(stock__lt=0).count() == 0


@pytest.mark.django_db(transaction=True)
def test_orders_of_several_skus_racing_in_any_line_order_neither_deadlock_nor_oversell():
    # given: 3 SKUs of 6 units; 24 buyers each take 1 of two or three of them, lines in any order
    skus = [SkuFactory(price_fen=990, stock=6).pk for _ in range(3)]
    baskets = [
        [skus[0], skus[1]],
        [skus[1], skus[0]],
        [skus[2], skus[1], skus[0]],
        [skus[2], skus[0]],
    ] * 6
    start = threading.Barrier(len(baskets))
    taken: list[list[int]] = []
    refused: list[int] = []

    def buy(buyer: int) -> None:
        try:
            start.wait()
            try:
                with transaction.atomic():
                    stock_reserve(
                        lines=[StockLine(sku_id=s, qty=1) for s in baskets[buyer]],
                        reference=f"order-{buyer}",
                    )
                taken.append(baskets[buyer])
            except OutOfStock:
                refused.append(buyer)
        finally:
            connection.close()

    # when (a deadlock would raise OperationalError in some thread and fail the map)
    with ThreadPoolExecutor(max_workers=len(baskets)) as pool:
        list(pool.map(buy, range(len(baskets))))

    # then: every unit sold went to exactly one accepted basket, logged once
    assert len(taken) + len(refused) == len(baskets)
    for sku_id in skus:
        sold = sum(basket.count(sku_id) for basket in taken)
        assert Sku.objects.get(pk=sku_id).stock == 6 - sold >= 0
        logs = StockLog.objects.filter(sku_id=sku_id)
        assert logs.count() == sold
        assert all(log.stock_before - 1 == log.stock_after for log in logs)
    assert set(StockLog.objects.values_list("reference", flat=True)) == {
        f"order-{buyer}" for buyer in range(len(baskets)) if buyer not in refused
    }


def test_a_move_of_several_skus_is_all_or_nothing(db):
    # given
    plenty, scarce = SkuFactory(stock=10), SkuFactory(stock=1)
    # when
    with pytest.raises(OutOfStock) as refused, transaction.atomic():
        stock_reserve(
            lines=[StockLine(sku_id=plenty.pk, qty=2), StockLine(sku_id=scarce.pk, qty=2)],
            reference="O1",
        )
    # then
    assert refused.value.detail == {"sku_id": scarce.pk, "requested": 2}
    assert [Sku.objects.get(pk=s.pk).stock for s in (plenty, scarce)] == [10, 1]
    assert not StockLog.objects.exists()


def test_release_gives_back_several_skus_with_one_log_each(db):
    # given
    first, second = SkuFactory(stock=0), SkuFactory(stock=3)
    # when
    with transaction.atomic():
        stock_release(
            lines=[
                StockLine(sku_id=second.pk, qty=1),
                StockLine(sku_id=first.pk, qty=2),
                StockLine(sku_id=second.pk, qty=1),
            ],
            reference="O2",
        )
    # then
    assert [Sku.objects.get(pk=s.pk).stock for s in (first, second)] == [2, 5]
    assert sorted(
        StockLog.objects.values_list("sku_id", "change", "stock_before", "stock_after")
    ) == [
        (first.pk, 2, 0, 2),
        (second.pk, 2, 3, 5),
    ]
