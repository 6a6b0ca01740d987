"""秒杀 under real concurrency (threads against Redis and PostgreSQL): never oversold."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from django.db import connection
from django.utils import timezone

from catalog.tests.factories import SkuFactory
from mall.errors import DomainError
from marketing import flash_gate
from marketing.models import FlashItem, FlashPurchase, FlashSession
from marketing.services.flash_sale import flash_admit, flash_counters_reconcile, flash_item_create
from members.models import Member
from orders.models import Order
from orders.pricing import CheckoutRequest, DeliveryChoice, LineInput, PromotionChoice
from orders.selectors import checkout_quote
from orders.services import order_create
from orders.tests.factories import AddressFactory

UNITS = 10


@pytest.fixture
def item(transactional_db: Any) -> FlashItem:
    now = timezone.now()
    session = FlashSession.objects.create(
        name="20:00 场", starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=1)
    )
    sku = SkuFactory(price_fen=5000, stock=100)
    item = flash_item_create(session=session, sku_id=sku.pk, flash_price_fen=990, total_stock=UNITS)
    flash_counters_reconcile()
    return item


def run_at_once(count: int, work: Any) -> list[Any]:
    start = threading.Barrier(count)

    def one(n: int) -> Any:
        start.wait()
        try:
            return work(n)
        except DomainError as exc:
            return exc.code
        finally:
            connection.close()  # each thread opened its own DB connection

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


@pytest.mark.django_db(transaction=True)
def test_50_buyers_on_10_units_admit_exactly_10(item: FlashItem) -> None:
    # given
    members = [Member.objects.create(openid=f"o-rush-{n}") for n in range(50)]
    # when
    results = run_at_once(
        50, lambda n: flash_admit(member_id=members[n].pk, item_id=item.pk, quantity=1)
    )
    # then
    admitted = [r for r in results if isinstance(r, flash_gate.Admission)]
    assert len(admitted) == UNITS
    assert results.count("flash_sold_out") == 50 - UNITS
    counters = flash_gate.item_counters(item.pk)
    assert (counters["meta"]["left"], len(counters["admissions"])) == (0, UNITS)


@pytest.mark.django_db(transaction=True)
def test_the_database_judges_even_when_redis_admitted_too_many(item: FlashItem) -> None:
    # given: Redis drifted and admits 30 buyers for 10 units
    flash_gate.redis_client().hset(f"flash:{{{item.pk}}}:meta", "left", 100)
    members = [Member.objects.create(openid=f"o-drift-{n}") for n in range(30)]
    for member in members:
        flash_admit(member_id=member.pk, item_id=item.pk, quantity=1)
    addresses = [AddressFactory(member=member).pk for member in members]

    def buy(n: int) -> Order:
        member = Member.objects.get(pk=members[n].pk)
        checkout = CheckoutRequest(
            delivery=DeliveryChoice(address_id=addresses[n]),
            lines=(LineInput(sku_id=item.sku_id, quantity=1),),
            promotion=PromotionChoice(kind="flash", id=item.pk),
        )
        _, quote = checkout_quote(member=member, checkout=checkout, now=timezone.now())
        order, _ = order_create(
            member=member,
            client_token=uuid4().hex,
            checkout=checkout,
            expected_payable_fen=quote.payable_fen,
        )
        return order

    # when
    results = run_at_once(30, buy)
    # then: 10 orders, the pool empty, the SKU's own stock untouched
    orders = [r for r in results if isinstance(r, Order)]
    assert len(orders) == UNITS, results
    assert set(results) - set(orders) == {"flash_sold_out"}
    item.refresh_from_db()
    item.sku.refresh_from_db()
    assert (item.flash_stock, item.sku.stock) == (0, 90)
    assert FlashPurchase.objects.filter(item=item).count() == UNITS
    assert Order.objects.count() == UNITS
