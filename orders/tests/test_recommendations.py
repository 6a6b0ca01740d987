"""Recommendations after the 2nd paid order: bought together, then the same categories."""

import pytest

from catalog.tests.factories import CategoryFactory, ProductFactory, SkuFactory
from members.models import Member
from members.tests.factories import MemberFactory
from payments.tests.conftest import order_bought

pytestmark = pytest.mark.django_db


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
    order_bought(me, [tea])
    order_bought(me, [cup])
    for _n in range(3):
        order_bought(MemberFactory(), [tea, pot, hidden])
    order_bought(MemberFactory(), [cup, tray, tea])
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
