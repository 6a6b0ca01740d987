"""Recommendations after the 2nd paid order: bought together, then the same categories."""

from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.tests.factories import CategoryFactory, ProductFactory, SkuFactory
from members.models import Member
from members.tests.factories import MemberFactory
from orders.models import Order, OrderStatus
from orders.services import order_transition
from payments.tests.conftest import place_order

pytestmark = pytest.mark.django_db


def _bought(member, skus, *, paid_days_ago=0, received_days_ago=None):
    """An order of `skus` paid (and received) that many days ago, through the state machine."""
    order = place_order(member, [(sku, 1) for sku in skus])
    now = timezone.now()
    order_transition(
        order_id=order.pk,
        from_status=OrderStatus.PENDING_PAYMENT,
        to_status=OrderStatus.PAID,
        actor="system",
        paid_at=now - timedelta(days=paid_days_ago),
    )
    if received_days_ago is not None:
        order_transition(
            order_id=order.pk,
            from_status=OrderStatus.PAID,
            to_status=OrderStatus.SHIPPED,
            actor="t",
        )
        order_transition(
            order_id=order.pk,
            from_status=OrderStatus.SHIPPED,
            to_status=OrderStatus.RECEIVED,
            actor="t",
            received_at=now - timedelta(days=received_days_ago),
        )
    return Order.objects.get(pk=order.pk)


def test_recommendations_after_the_second_order(member_login, django_assert_max_num_queries):
    # given: I bought tea and a cup; others bought tea with a pot, a cup with a tray
    member_id, client = member_login("o-reco")
    me = Member.objects.get(pk=member_id)
    category = CategoryFactory()
    tea, cup, pot, tray, kettle, hidden = (
        SkuFactory(product=ProductFactory(category=category, sales_count=n)) for n in range(6)
    )
    others = [SkuFactory(product=ProductFactory(sales_count=100 + n)) for n in range(12)]
    before = client.get("/api/v1/recommendations").json()
    _bought(me, [tea])
    _bought(me, [cup])
    for _n in range(3):
        _bought(MemberFactory(), [tea, pot, hidden])
    _bought(MemberFactory(), [cup, tray, tea])
    hidden.product.is_on_shelf = False  # taken off the shelf since
    hidden.product.save()

    # when
    with django_assert_max_num_queries(5):
        response = client.get("/api/v1/recommendations")

    # then
    assert before["basis"] == "popular"
    assert len(before["results"]) == 10
    assert before["results"][0]["id"] == others[-1].product_id
    body = response.json()
    ids = [item["id"] for item in body["results"]]
    assert body["basis"] == "related"
    assert ids[:2] == [pot.product_id, tray.product_id]  # bought together, most members first
    assert kettle.product_id in ids  # same category
    assert not {tea.product_id, cup.product_id, hidden.product_id} & set(ids)
    assert body["results"][0]["reason"] == "bought_together"
