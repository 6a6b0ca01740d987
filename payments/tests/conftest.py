"""Fixtures of the payments tests: a shop with stock, orders placed through the services, the
shop's public URL served by pytest-django's live server (so the simulator's notifications reach
the real notify views), and helpers that drive the simulator's /_sim/ API."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.tests.factories import SkuFactory
from members.models import Member
from orders.models import Order, OrderStatus
from orders.pricing import CheckoutRequest, DeliveryChoice, LineInput
from orders.selectors import checkout_quote
from orders.services import order_create, order_transition
from orders.tests.factories import AddressFactory
from payments.models import LedgerEntry


def place_order(member: Member, lines: list[tuple[Any, int]], *, address: Any = None) -> Order:
    """An order created through the service, as the shopper's checkout would."""
    address = address or AddressFactory(member=member)
    checkout = CheckoutRequest(
        delivery=DeliveryChoice(address_id=address.pk, pickup_point_id=None),
        lines=tuple(LineInput(sku_id=sku.pk, quantity=qty) for sku, qty in lines),
        from_cart=False,
    )
    _, quote = checkout_quote(member=member, checkout=checkout, now=timezone.now())
    order, _ = order_create(
        member=member,
        client_token=uuid4().hex,
        checkout=checkout,
        expected_payable_fen=quote.payable_fen,
    )
    return order


def wait_until(
    predicate: Callable[[], Any], *, timeout: float = 10.0, every: float = 0.02, what: str = ""
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(every)


def wechat_ledger(order: Order | None = None) -> list[tuple[str, str, int]]:
    entries = LedgerEntry.objects.filter(channel="wechat")
    if order is not None:
        entries = entries.filter(order=order)
    return list(entries.order_by("id").values_list("kind", "direction", "amount_fen"))


@dataclass
class Shopper:
    member: Member
    client: APIClient

    def pay(self, order: Order) -> dict[str, Any]:
        response = self.client.post(f"/api/v1/orders/{order.no}/pay")
        assert response.status_code == 200, response.content
        return response.json()

    def sync(self, order: Order) -> dict[str, Any]:
        response = self.client.post(f"/api/v1/orders/{order.no}/pay/sync")
        assert response.status_code == 200, response.content
        return response.json()


@pytest.fixture
def shopper(member_login) -> Shopper:
    member_id, client = member_login(f"o-payer-{uuid4().hex[:8]}")
    return Shopper(member=Member.objects.get(pk=member_id), client=client)


@pytest.fixture(autouse=True)
def _no_callbacks(settings) -> None:
    """Without `callbacks`, WeChat's notifications go nowhere (never to a dev server on :8000)."""
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9"


@pytest.fixture
def sku(db):
    return SkuFactory(price_fen=1999, stock=1000)


@pytest.fixture(scope="session")
def _live_server_without_nagle() -> None:
    """Django's test server writes headers and body in separate sends; with Nagle's algorithm
    and the client's delayed ACK every answer then waits ~40 ms. Production servers set
    TCP_NODELAY; so does this test server."""
    from django.core.servers.basehttp import WSGIRequestHandler

    WSGIRequestHandler.disable_nagle_algorithm = True


@pytest.fixture
def callbacks(_live_server_without_nagle, live_server, settings, wechat_sim) -> str:
    """WeChat's notifications reach this test's shop (live server: transactional tests only);
    refunds finish at once; the retry ladder runs 1000× faster."""
    settings.PUBLIC_BASE_URL = live_server.url
    wechat_sim.control("POST", "faults", json={"refund_delay_s": 0, "speed": 1000})
    return live_server.url


@pytest.fixture
def sim_pay(wechat_sim) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The shopper confirms wx.requestPayment: the simulator checks paySign, pays, notifies."""

    def pay(answer: dict[str, Any]) -> dict[str, Any]:
        return wechat_sim.control("POST", "pay", json=answer["request_payment"])

    return pay


@pytest.fixture
def sim_quiet(wechat_sim) -> Callable[..., None]:
    """Wait until the simulator has had nothing queued (notifications, retries, refund
    completions) for `settle` seconds: a send in flight queues its retry when it ends."""
    notifier = wechat_sim.server.state.notifier

    def quiet(timeout: float = 15.0, settle: float = 0.3) -> None:
        deadline = time.monotonic() + timeout
        quiet_since = None
        while time.monotonic() < deadline:
            if notifier.pending_count():
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= settle:
                return
            time.sleep(0.02)
        raise AssertionError(f"the simulator still has {notifier.pending_count()} jobs queued")

    return quiet


def notification_body(
    out_trade_no: str,
    *,
    transaction_id: str,
    total_fee: int,
    time_end: str = "20260101120000",
    api_key: str | None = None,
) -> bytes:
    """A payment notification as WeChat signs it (for posting to the view in-process)."""
    from django.conf import settings

    from wechat_sim.pay_sign import nonce_str, signed, to_xml

    fields = {
        "return_code": "SUCCESS",
        "return_msg": "OK",
        "appid": settings.WECHAT_APPID,
        "mch_id": settings.WECHAT_MCH_ID,
        "nonce_str": nonce_str(),
        "result_code": "SUCCESS",
        "openid": "o-someone",
        "trade_type": "JSAPI",
        "bank_type": "OTHERS",
        "total_fee": total_fee,
        "fee_type": "CNY",
        "cash_fee": total_fee,
        "transaction_id": transaction_id,
        "out_trade_no": out_trade_no,
        "time_end": time_end,
    }
    return to_xml(signed(fields, api_key or settings.WECHAT_API_KEY)).encode()


def pay_and_settle(shopper: Shopper, order: Order, sim_pay: Callable[..., Any]) -> dict[str, Any]:
    """Without a live server: the shopper pays, WeChat's notification goes nowhere, the
    shopper's pay/sync settles it by orderquery; then the payment's follow-up runs, as a worker
    runs it after the commit (the test's transaction never commits)."""
    from payments.services import order_paid_followups

    payment = sim_pay(shopper.pay(order))
    assert shopper.sync(order)["paid"] is True
    order_paid_followups(order_id=order.pk)
    order.refresh_from_db()
    return payment


def refund_and_settle(capture: Any, **kwargs: Any) -> Any:
    """Without a live server: request a refund, run its WeChat submission (on commit), and let
    refundquery settle it (its notification goes nowhere)."""
    from payments.models import Refund
    from payments.services import refund_query_sync, refund_request

    with capture(execute=True):
        refund = refund_request(**kwargs)
    refund_query_sync(refund_id=refund.pk)
    return Refund.objects.get(pk=refund.pk)


@pytest.fixture
def instant_refunds(wechat_sim) -> None:
    wechat_sim.control("POST", "faults", json={"refund_delay_s": 0})


def order_bought(
    member: Member, skus: list[Any], *, paid_days_ago: int = 0, received_days_ago: int | None = None
) -> Order:
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
