import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.db.models import Sum

from catalog.models import Sku, StockLog
from catalog.stock import stock_deduct
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
