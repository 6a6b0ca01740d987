from uuid import uuid4

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.tests.factories import SkuFactory
from members.tests.factories import MemberFactory
from orders.pricing import CheckoutRequest, DeliveryChoice, LineInput
from orders.selectors import checkout_quote
from orders.services import order_create
from orders.tests.factories import AddressFactory


@pytest.fixture
def member(db):
    return MemberFactory()


@pytest.fixture
def client_for():
    def make(member):
        client = APIClient()
        client.force_authenticate(user=member)
        return client

    return make


@pytest.fixture
def shopper_client(member, client_for):
    return client_for(member)


@pytest.fixture
def address(member):
    return AddressFactory(member=member, is_default=True)


@pytest.fixture
def place_order():
    """Create an order through the service, as the shopper would."""

    def place(member, lines, *, address=None, pickup_point=None, token=None, from_cart=False):
        checkout = CheckoutRequest(
            delivery=DeliveryChoice(
                address_id=address.pk if address else None,
                pickup_point_id=pickup_point.pk if pickup_point else None,
            ),
            lines=tuple(LineInput(sku_id=sku.pk, quantity=qty) for sku, qty in lines),
            from_cart=from_cart,
        )
        _, quote = checkout_quote(member=member, checkout=checkout, now=timezone.now())
        order, _ = order_create(
            member=member,
            client_token=token or uuid4().hex,
            checkout=checkout,
            expected_payable_fen=quote.payable_fen,
        )
        return order

    return place


@pytest.fixture
def sku(db):
    return SkuFactory(price_fen=1999, stock=100)
